package io.qgagateway.sim;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** One declared argument of a command; checked before the command runs, as QAPI does. */
record Param(String name, Type type, boolean required) {

  enum Type {
    INT("integer"), STRING("string"), BOOL("boolean"), ARRAY("array"),
    /** Alternates such as {@code whence} (int or enum) are checked by the command itself. */
    ANY(null);

    final String label;

    Type(String label) {
      this.label = label;
    }

    boolean accepts(Object value) {
      return switch (this) {
        case INT -> value instanceof Integer || value instanceof Long;
        case STRING -> value instanceof String;
        case BOOL -> value instanceof Boolean;
        case ARRAY -> value instanceof JsonArray;
        case ANY -> true;
      };
    }
  }

  static Param required(String name, Type type) {
    return new Param(name, type, true);
  }

  static Param optional(String name, Type type) {
    return new Param(name, type, false);
  }

  /** Fails like qemu-ga's input visitor: missing, ill-typed or unexpected members. */
  static void check(Param[] params, JsonObject args) {
    for (Param p : params) {
      Object value = args.getValue(p.name);
      if (value == null) {
        if (p.required) {
          throw CommandError.generic("Parameter '" + p.name + "' is missing");
        }
      } else if (!p.type.accepts(value)) {
        throw CommandError.generic("Invalid parameter type for '" + p.name + "', expected: "
            + p.type.label);
      }
    }
    for (String name : args.fieldNames()) {
      if (!declares(params, name)) {
        throw CommandError.generic("Parameter '" + name + "' is unexpected");
      }
    }
  }

  private static boolean declares(Param[] params, String name) {
    for (Param p : params) {
      if (p.name.equals(name)) {
        return true;
      }
    }
    return false;
  }
}
