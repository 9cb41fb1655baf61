package io.qgagateway.protocol;

import io.vertx.core.json.JsonObject;

/**
 * One reply object of the agent: {@code {"return": X}} or {@code {"error": {"class", "desc"}}}.
 * Anything else is not a reply.
 */
public record AgentReply(Object returnValue, AgentError error) {

  /** Reads a reply, or returns null when the object is neither a return nor an error. */
  public static AgentReply of(JsonObject object) {
    if (object.containsKey("return")) {
      return new AgentReply(object.getValue("return"), null);
    }
    Object error = object.getValue("error");
    if (error instanceof JsonObject e) {
      return new AgentReply(null, new AgentError(
          String.valueOf(e.getValue("class", "GenericError")),
          String.valueOf(e.getValue("desc", ""))));
    }
    return null;
  }

  public boolean isError() {
    return error != null;
  }
}
