package io.qgagateway.http;

import io.vertx.core.VertxException;

/**
 * Why a request's body was not (or not wholly) read: too large (413), over the member's body
 * budget (503, with {@code Retry-After}), a bad request (400) or a client that stopped sending
 * (408). The connection is closed after the answer, so the rest of the body is never read.
 */
final class BodyRefused extends VertxException {

  private static final long serialVersionUID = 1L;

  /** What a 503 for a full body budget asks the client to wait before it retries. */
  static final int RETRY_AFTER_SECONDS = 1;

  final int status;
  /** Seconds for {@code Retry-After}, or -1 for none. */
  final int retryAfterSeconds;

  BodyRefused(int status, String message, int retryAfterSeconds) {
    super(message, true);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static BodyRefused tooLarge(String what, long limit, String key) {
    return new BodyRefused(413, what + " larger than " + limit + " bytes (" + key + ")", -1);
  }

  static BodyRefused overBudget(BodyBudget budget) {
    return new BodyRefused(503, "the gateway already holds as many request bytes as it may ("
        + budget.limit() + ", http.maxInFlightBodyBytes); retry later", RETRY_AFTER_SECONDS);
  }

  /** The same refusal, its message followed by {@code more}. */
  BodyRefused with(String more) {
    return new BodyRefused(status, getMessage() + more, retryAfterSeconds);
  }
}
