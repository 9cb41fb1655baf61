package io.qgagateway.protocol;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The bytes the gateway writes to an agent. */
public final class AgentRequests {

  public static final String SYNC_DELIMITED = "guest-sync-delimited";
  private static final int MAX_CACHED = 256;
  // the bytes of argument-less commands (ping, info, ...): encoded once, not on every request
  private static final Map<String, byte[]> WITHOUT_ARGUMENTS = new ConcurrentHashMap<>();

  private AgentRequests() {
  }

  /** One command, {@code arguments} omitted when null or empty as the agent accepts both. */
  public static Buffer command(String execute, JsonObject arguments) {
    if (arguments == null || arguments.isEmpty()) {
      byte[] bytes = WITHOUT_ARGUMENTS.get(execute);
      if (bytes == null) {
        bytes = encode(new JsonObject().put("execute", execute)).getBytes();
        // passthrough names come from callers: keep the cache to the commands that exist
        if (WITHOUT_ARGUMENTS.size() < MAX_CACHED) {
          WITHOUT_ARGUMENTS.put(execute, bytes);
        }
      }
      return Buffer.buffer(bytes);
    }
    return encode(new JsonObject().put("execute", execute).put("arguments", arguments));
  }

  private static Buffer encode(JsonObject request) {
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
