package io.qgagateway.commands;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;

/** The JSON kind of a decoded value, for "expected X, got Y" messages. */
final class JsonKind {

  private JsonKind() {
  }

  static boolean isInteger(Object value) {
    return value instanceof Integer || value instanceof Long || value instanceof Short
        || value instanceof Byte;
  }

  static String of(Object value) {
    if (value == null) {
      return "null";
    }
    if (value instanceof String) {
      return "string";
    }
    if (isInteger(value)) {
      return "integer";
    }
    if (value instanceof BigInteger) {
      return "integer out of 64-bit range";
    }
    if (value instanceof Number) {
      return "number";
    }
    if (value instanceof Boolean) {
      return "boolean";
    }
    if (value instanceof JsonObject) {
      return "object";
    }
    if (value instanceof JsonArray) {
      return "array";
    }
    return value.getClass().getSimpleName();
  }
}
