package io.qgagateway.commands;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.Set;

/**
 * Copies of request and reply bodies fit for logs and the audit line: every field named like a
 * secret (API.md section 6), at any depth, reads {@value #MASK}. By name rather than by command
 * so passthrough bodies and nested arguments are covered whatever the command.
 */
public final class Redactor {

  public static final Set<String> SECRET_NAMES =
      Set.of("password", "buf-b64", "input-data", "content-b64", "input", "input-b64");
  public static final String MASK = "***";

  private Redactor() {
  }

  public static boolean isSecret(String fieldName) {
    return SECRET_NAMES.contains(fieldName);
  }

  /** A redacted copy; the input is untouched and secrets are never copied. Null stays null. */
  public static JsonObject redact(JsonObject json) {
    if (json == null) {
      return null;
    }
    JsonObject copy = new JsonObject();
    for (String name : json.fieldNames()) {
      copy.put(name, isSecret(name) ? MASK : redactValue(json.getValue(name)));
    }
    return copy;
  }

  private static Object redactValue(Object value) {
    if (value instanceof JsonObject object) {
      return redact(object);
    }
    if (value instanceof JsonArray array) {
      JsonArray copy = new JsonArray();
      for (int i = 0; i < array.size(); i++) {
        copy.add(redactValue(array.getValue(i)));
      }
      return copy;
    }
    return value;
  }
}
