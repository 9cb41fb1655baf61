package io.qgagateway.api;

import io.vertx.core.Future;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

/** Failures with the contract's codes; they travel the (clustered) bus as they are. */
public final class Failures {

  private Failures() {
  }

  public static GatewayFailure of(int code, String message) {
    return new GatewayFailure(code, null, message);
  }

  /** An error the agent answered, with its class kept apart from its description. */
  public static GatewayFailure agent(int code, String agentClass, String desc) {
    return new GatewayFailure(code, agentClass, desc);
  }

  public static <T> Future<T> fail(int code, String message) {
    return Future.failedFuture(of(code, message));
  }

  /**
   * Answers {@code message} with {@code failure}. On the gateway's own addresses ({@code typed})
   * the {@link GatewayFailure} goes whole, agent class included; on public addresses, whose
   * callers may be any Vert.x member or bridge client, as the plain code and message.
   */
  public static void reply(Message<?> message, Throwable failure, boolean typed) {
    ReplyException f = normalize(failure);
    if (typed && f instanceof GatewayFailure whole) {
      message.reply(whole);
    } else {
      message.fail(f.failureCode(), f.getMessage());
    }
  }

  /**
   * The contract's code of any failure: our own codes as they are, the bus's own failures mapped
   * (no handler: the guest's node is gone, 503; bus timeout: 504), anything else 500.
   */
  public static ReplyException normalize(Throwable failure) {
    if (failure instanceof GatewayFailure known) {
      return known;
    }
    if (failure instanceof ReplyException re) {
      return switch (re.failureType()) {
        case RECIPIENT_FAILURE, ERROR -> re.failureCode() >= 400 && re.failureCode() < 600
            ? re : of(Codes.ERROR, re.getMessage());
        case NO_HANDLERS -> of(Codes.NOT_CONNECTED, "the guest's node is not reachable");
        case TIMEOUT -> of(Codes.TIMEOUT, "no answer within the timeout");
      };
    }
    return of(Codes.ERROR, failure == null ? "internal error" : failure.toString());
  }
}
