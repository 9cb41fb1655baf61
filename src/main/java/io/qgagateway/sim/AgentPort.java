package io.qgagateway.sim;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;

/** The agent's end of the channel, as a {@link ReplyWriter} may use it. */
public interface AgentPort {

  /**
   * Writes to the connected client; while none is connected the bytes wait for the next one, as
   * a virtio-serial port holds what the guest writes.
   */
  Future<Void> write(Buffer bytes);

  /** Closes the current client connection, e.g. halfway through a reply. */
  void closeConnection();

  /**
   * Stops reading from the current client while keeping its socket open, like an agent that
   * died inside the guest; completes once that client disconnects.
   */
  Future<Void> silence();

  /** For timers: they run on the agent's context. */
  Vertx vertx();
}
