package io.qgagateway.sim;

import io.vertx.core.json.JsonObject;

/** A command's failure as the agent reports it: {@code {"error": {"class", "desc"}}}. */
final class CommandError extends RuntimeException {

  private final String errorClass;

  CommandError(String errorClass, String desc) {
    // a reply, not a bug: no stack trace to fill
    super(desc, null, false, false);
    this.errorClass = errorClass;
  }

  static CommandError generic(String desc) {
    return new CommandError("GenericError", desc);
  }

  static CommandError invalidParameter(String name) {
    return generic("Invalid parameter '" + name + "'");
  }

  JsonObject toJson() {
    return new JsonObject().put("class", errorClass).put("desc", getMessage());
  }
}
