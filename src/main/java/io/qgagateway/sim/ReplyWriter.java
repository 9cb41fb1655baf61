package io.qgagateway.sim;

import io.vertx.core.Future;

/**
 * How the agent puts each answer on the wire: the extension point for fault injection. The
 * agent handles its input one exchange at a time and reads the next only when the returned future
 * completes, so a slow writer delays later replies just as a slow command does in qemu-ga.
 */
@FunctionalInterface
public interface ReplyWriter {

  Future<Void> write(Exchange exchange, AgentPort port);

  /** What the real agent does: the reply at once and whole, or nothing when there is none. */
  ReplyWriter DIRECT = (exchange, port) -> {
    if (exchange.reply() != null) {
      port.write(exchange.reply());
    }
    return Future.succeededFuture();
  };
}
