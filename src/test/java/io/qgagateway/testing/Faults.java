package io.qgagateway.testing;

import io.qgagateway.sim.ReplyWriter;
import io.vertx.core.Future;
import io.vertx.core.Promise;

/** Reply writers for the simulated agent that slow down one command's replies. */
public final class Faults {

  private Faults() {
  }

  /**
   * Writes the reply to {@code command} only after {@code delayMs}; like a slow command in
   * qemu-ga the agent reads nothing else meanwhile. Everything else is answered at once.
   */
  public static ReplyWriter delaying(String command, long delayMs) {
    return (exchange, port) -> {
      if (!command.equals(exchange.command()) || exchange.reply() == null) {
        return ReplyWriter.DIRECT.write(exchange, port);
      }
      Promise<Void> written = Promise.promise();
      port.vertx().setTimer(delayMs, id -> port.write(exchange.reply()).onComplete(written));
      return written.future();
    };
  }

  /** Never answers {@code command} (but keeps reading): a reply lost on the way. */
  public static ReplyWriter dropping(String command) {
    return (exchange, port) -> command.equals(exchange.command())
        ? Future.succeededFuture() : ReplyWriter.DIRECT.write(exchange, port);
  }
}
