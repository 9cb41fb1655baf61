package io.qgagateway.api;

import java.util.concurrent.TimeUnit;

/**
 * The one moment by which a request must be answered, fixed where the request enters the
 * gateway (HTTP, event bus, bridge) and carried through dispatch, forwarding, queueing and the
 * link, so every hop answers at that same moment. Within a JVM it is absolute ({@code
 * System.nanoTime}); between members it travels as the time left ({@link #remainingMs()}), which
 * needs no synchronised clocks.
 *
 * @param endNanos  the deadline on {@link System#nanoTime()}'s clock
 * @param timeoutMs the request's whole timeout, for messages
 */
public record Deadline(long endNanos, long timeoutMs) {

  public static Deadline in(long timeoutMs) {
    return new Deadline(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs), timeoutMs);
  }

  public long remainingNanos() {
    return endNanos - System.nanoTime();
  }

  /** Whole milliseconds left, 0 once passed. */
  public long remainingMs() {
    return Math.max(0, TimeUnit.NANOSECONDS.toMillis(remainingNanos()));
  }

  public boolean passed() {
    return remainingNanos() <= 0;
  }

  /** At most {@code capMs}, at least 1 ms: the time one step of an operation may take. */
  public long stepMs(long capMs) {
    return Math.max(1, Math.min(capMs, remainingMs()));
  }

  /** This deadline or {@code capMs} from now, whichever comes first. */
  public Deadline capped(long capMs) {
    Deadline cap = in(capMs);
    return cap.endNanos - endNanos < 0 ? new Deadline(cap.endNanos, timeoutMs) : this;
  }

  public GatewayFailure expired(String what) {
    return Failures.of(Codes.TIMEOUT, what + " did not finish within " + timeoutMs + " ms");
  }
}
