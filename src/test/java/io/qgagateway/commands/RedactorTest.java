package io.qgagateway.commands;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

class RedactorTest {

  @Test
  void masksEverySecretNameAtAnyDepth() {
    JsonObject body = new JsonObject()
        .put("guest", "vm-1")
        .put("execute", "guest-set-user-password")
        .put("arguments", new JsonObject()
            .put("username", "root").put("password", "c2VjcmV0").put("crypted", false)
            .put("nested", new JsonArray()
                .add(new JsonObject().put("buf-b64", "AAAA").put("count", 3))
                .add(new JsonArray().add(new JsonObject().put("input", "text")))
                .add("plain")));
    JsonObject redacted = Redactor.redact(body);
    JsonObject args = redacted.getJsonObject("arguments");
    assertEquals("***", args.getString("password"));
    assertEquals("root", args.getString("username"));
    assertEquals(false, args.getBoolean("crypted"));
    JsonArray nested = args.getJsonArray("nested");
    assertEquals(new JsonObject().put("buf-b64", "***").put("count", 3), nested.getJsonObject(0));
    assertEquals("***", nested.getJsonArray(1).getJsonObject(0).getString("input"));
    assertEquals("plain", nested.getString(2));
    assertEquals("vm-1", redacted.getString("guest"));
  }

  @Test
  void coversAllContractSecretsAndLeavesTheInputAlone() {
    JsonObject body = new JsonObject();
    for (String name : Redactor.SECRET_NAMES) {
      body.put(name, "s3cret");
    }
    body.put("path", "/etc/hosts");
    JsonObject redacted = Redactor.redact(body);
    for (String name : Redactor.SECRET_NAMES) {
      assertEquals("***", redacted.getValue(name), name);
      assertEquals("s3cret", body.getValue(name), name);
    }
    assertEquals("/etc/hosts", redacted.getString("path"));
    assertFalse(redacted.encode().contains("s3cret"));
  }

  @Test
  void masksWholeSecretObjectsAndNull() {
    JsonObject redacted = Redactor.redact(new JsonObject()
        .put("input", new JsonObject().put("x", 1)).putNull("password"));
    assertEquals("***", redacted.getValue("input"));
    assertEquals("***", redacted.getValue("password"));
    assertNull(Redactor.redact(null));
  }
}
