package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.vertx.core.eventbus.ReplyException;

/** The end of a multi-step operation's time, so each step gets only what is left. */
record Deadline(long endNanos, long timeoutMs) {

  static Deadline in(long timeoutMs) {
    return new Deadline(System.nanoTime() + timeoutMs * 1_000_000, timeoutMs);
  }

  long remainingMs() {
    return Math.max(0, (endNanos - System.nanoTime()) / 1_000_000);
  }

  boolean passed() {
    return remainingMs() <= 0;
  }

  /** At most {@code capMs}, at least 1 ms. */
  long stepMs(long capMs) {
    return Math.max(1, Math.min(capMs, remainingMs()));
  }

  ReplyException expired(String what) {
    return Failures.of(Codes.TIMEOUT, what + " did not finish within " + timeoutMs + " ms");
  }
}
