package io.qgagateway.api;

import io.vertx.core.AsyncResult;
import io.vertx.core.json.JsonObject;

/** The {@code outcome} label of {@code qga_command_duration_seconds} (METRICS.md). */
public enum Outcome {
  OK, SENT, BAD_REQUEST, FORBIDDEN, UNKNOWN_GUEST, FROZEN, BUSY, UNSUPPORTED, AGENT_ERROR,
  NOT_CONNECTED, TIMEOUT, ERROR;

  private final String label = name().toLowerCase(java.util.Locale.ROOT);

  public String label() {
    return label;
  }

  public static Outcome ofCode(int code) {
    return switch (code) {
      case Codes.BAD_REQUEST -> BAD_REQUEST;
      case Codes.FORBIDDEN -> FORBIDDEN;
      case Codes.UNKNOWN_GUEST -> UNKNOWN_GUEST;
      case Codes.FROZEN -> FROZEN;
      case Codes.BUSY -> BUSY;
      case Codes.UNSUPPORTED -> UNSUPPORTED;
      case Codes.AGENT_ERROR -> AGENT_ERROR;
      case Codes.NOT_CONNECTED -> NOT_CONNECTED;
      case Codes.TIMEOUT -> TIMEOUT;
      default -> ERROR;
    };
  }

  /** The outcome of a finished request: {@code sent} for commands without success reply. */
  public static Outcome of(AsyncResult<JsonObject> reply) {
    if (reply.succeeded()) {
      return reply.result().containsKey("sent") ? SENT : OK;
    }
    return ofCode(Failures.normalize(reply.cause()).failureCode());
  }
}
