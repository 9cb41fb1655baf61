package io.qgagateway.http;

import io.vertx.core.Vertx;

import java.util.concurrent.TimeUnit;

/** The check behind {@code http.bodyIdleTimeoutMs}: a client that stops sending its body. */
final class IdleCheck {

  private IdleCheck() {
  }

  /** Runs {@code check} a few times per timeout (one periodic timer, not one per piece). */
  static long every(Vertx vertx, long timeoutMs, Runnable check) {
    return vertx.setPeriodic(Math.max(10, timeoutMs / 4), id -> check.run());
  }

  static boolean idleFor(long sinceNanos, long timeoutMs) {
    return System.nanoTime() - sinceNanos > TimeUnit.MILLISECONDS.toNanos(timeoutMs);
  }

  static BodyRefused refusal(long timeoutMs) {
    return new BodyRefused(408, "no body bytes for " + timeoutMs
        + " ms (http.bodyIdleTimeoutMs)", -1);
  }
}
