package io.qgagateway.fleet;

import io.qgagateway.sim.AgentPort;
import io.qgagateway.sim.Exchange;
import io.qgagateway.sim.ReplyWriter;
import io.vertx.core.Future;
import io.vertx.core.Promise;

/**
 * A simulated agent's writer whose {@code guest-fstrim} answers after a minute (everything else
 * at once): a request that is still in flight when its holder fails.
 */
final class SlowFstrim {

  private SlowFstrim() {
  }

  static Future<Void> write(Exchange exchange, AgentPort port) {
    if ("guest-fstrim".equals(exchange.command())) {
      Promise<Void> later = Promise.promise();
      port.vertx().setTimer(60_000, id -> ReplyWriter.DIRECT.write(exchange, port)
          .onComplete(later));
      return later.future();
    }
    return ReplyWriter.DIRECT.write(exchange, port);
  }
}
