package io.qgagateway.sim;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/**
 * One answer the agent is about to give, handed to a {@link ReplyWriter}.
 *
 * @param kind    what is answered
 * @param request the request object for {@link Kind#COMMAND}, else null
 * @param command the requested command name when there is one, e.g. to pick faults by name
 * @param reply   the bytes the agent writes (one line, with 0xFF first for
 *                {@code guest-sync-delimited}), or null when it sends nothing, as for a
 *                {@code guest-shutdown} that succeeds
 */
public record Exchange(Kind kind, JsonObject request, String command, Buffer reply) {

  public enum Kind {
    /** A 0xFF from the client, answered by the "stray" parse error. */
    DELIMITER,
    /** Input that is not a request, answered by one parse error. */
    PARSE_ERROR,
    /** A request object (well-formed or not). */
    COMMAND
  }

  /** An error reply to this exchange's request, echoing its {@code id} like the agent does. */
  public Buffer errorReply(String errorClass, String desc) {
    return SimulatedAgent.encode(new JsonObject().put("error",
        new CommandError(errorClass, desc).toJson()), request == null ? null : request.getValue("id"));
  }
}
