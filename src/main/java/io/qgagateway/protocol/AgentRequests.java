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
   * A command from {@link #command} with an {@code "id"} member the agent echoes in its reply,
   * errors included: {@code {"execute":...,"id":N}}. The id goes last, so a request the agent
   * split would leave it in the tail, where no reply can carry it.
   */
  public static Buffer withId(Buffer command, long id) {
    // command ends in "}\n"
    int end = command.length() - 2;
    return Buffer.buffer(end + 32).appendBuffer(command, 0, end)
        .appendString(",\"id\":").appendString(Long.toString(id)).appendString("}\n");
  }

  /**
   * 0xFF, which resets the agent's JSON lexer whatever a previous client left in it, then
   * {@code guest-sync-delimited}. The agent answers the 0xFF with one stray parse error and the
   * sync with 0xFF + {@code {"return": id}}. With {@code idMember} the request also carries
   * {@code "id": id}: an agent that echoes it in the reply echoes request ids, so commands can be
   * tagged; a very old agent rejects the member, and the link syncs again without it.
   */
  public static Buffer syncDelimited(long id, boolean idMember) {
    Buffer sync = command(SYNC_DELIMITED, new JsonObject().put("id", id));
    return Buffer.buffer(sync.length() + 32)
        .appendByte((byte) 0xFF)
        .appendBuffer(idMember ? withId(sync, id) : sync);
  }

  /**
   * {@code guest-sync-delimited} without the leading 0xFF, pipelined behind a command on a stream
   * in step: the agent answers in order, so its delimited return coming first means the agent no
   * longer holds the command (it died or dropped it), and coming after an error-free silence
   * means a command without success reply was carried out.
   */
  public static Buffer probe(long id) {
    return command(SYNC_DELIMITED, new JsonObject().put("id", id));
  }
}
