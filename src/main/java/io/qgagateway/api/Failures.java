package io.qgagateway.api;

import io.vertx.core.Future;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

/** Failures with the contract's codes; they travel the (clustered) bus as they are. */
public final class Failures {

  private Failures() {
  }

  public static ReplyException of(int code, String message) {
    return new ReplyException(ReplyFailure.RECIPIENT_FAILURE, code, message);
  }

  public static <T> Future<T> fail(int code, String message) {
    return Future.failedFuture(of(code, message));
  }

  /**
   * The contract's code of any failure: our own codes as they are, the bus's own failures mapped
   * (no handler: the guest's node is gone, 503; bus timeout: 504), anything else 500.
   */
  public static ReplyException normalize(Throwable failure) {
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
