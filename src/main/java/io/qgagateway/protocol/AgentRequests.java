package io.qgagateway.protocol;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/** The bytes the gateway writes to an agent. */
public final class AgentRequests {

  public static final String SYNC_DELIMITED = "guest-sync-delimited";

  private AgentRequests() {
  }

  /** One command, {@code arguments} omitted when null or empty as the agent accepts both. */
  public static Buffer command(String execute, JsonObject arguments) {
    JsonObject request = new JsonObject().put("execute", execute);
    if (arguments != null && !arguments.isEmpty()) {
      request.put("arguments", arguments);
    }
    return request.toBuffer().appendByte((byte) '\n');
  }

  /**
   * 0xFF, which resets the agent's JSON lexer whatever a previous client left in it, then
   * {@code guest-sync-delimited}. The agent answers the 0xFF with one stray parse error and the
   * sync with 0xFF + {@code {"return": id}}.
   */
  public static Buffer syncDelimited(long id) {
    return Buffer.buffer()
        .appendByte((byte) 0xFF)
        .appendBuffer(command(SYNC_DELIMITED, new JsonObject().put("id", id)));
  }
}
