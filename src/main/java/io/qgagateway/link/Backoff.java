package io.qgagateway.link;

import java.util.concurrent.ThreadLocalRandom;

/** Reconnect delays: doubling from an initial delay to a ceiling, with "equal jitter". */
final class Backoff {

  private final long initialMs;
  private final long maxMs;
  private int attempts;

  Backoff(long initialMs, long maxMs) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
  }

  /** At least half the current ceiling, so a fleet that lost its agents at once spreads out. */
  long next() {
    long ceiling = Math.min(maxMs, initialMs << Math.min(attempts, 20));
    attempts++;
    return Math.max(1, ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1));
  }

  void reset() {
    attempts = 0;
  }
}
