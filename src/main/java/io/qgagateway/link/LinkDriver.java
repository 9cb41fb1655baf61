package io.qgagateway.link;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;

/**
 * Everything a {@link GuestLink} needs from the outside world: a clock, timers and connections.
 * The link is a state machine fed by this seam, so its behaviour tests drive it byte by byte and
 * tick by tick, without sockets or sleeps; {@link SocketDriver} is the real one.
 */
public interface LinkDriver {

  /** The context the link runs on; null in tests that drive it by hand. */
  Context context();

  /** Monotonic time in nanoseconds. */
  long nanoTime();

  /** Runs {@code action} on the link's context after {@code delayMs} (at least 1). */
  long setTimer(long delayMs, Runnable action);

  void cancelTimer(long id);

  /** Opens a connection to {@code target}; its bytes and its end go to {@code listener}. */
  Future<Wire> connect(GuestTarget target, WireListener listener);

  /** Releases what the driver holds (its client); the link is done with it. */
  Future<Void> close();

  /** One connection's write side. */
  interface Wire {
    void write(Buffer bytes);

    void close();
  }

  /** What a connection delivers, on the link's context. */
  interface WireListener {
    void bytes(Wire wire, Buffer chunk);

    void closed(Wire wire, String reason);
  }
}
