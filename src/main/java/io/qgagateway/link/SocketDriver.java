package io.qgagateway.link;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetSocket;

/** {@link LinkDriver} on Vert.x: a NetClient for Unix and TCP chardevs, Vert.x timers. */
final class SocketDriver implements LinkDriver {

  private final Vertx vertx;
  private final Context context;
  // Held in a field: Vert.x 5.1 closes an unreferenced NetClient, sockets and all, on GC.
  private final NetClient client;

  SocketDriver(Vertx vertx) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.client = vertx.createNetClient();
  }

  @Override
  public Context context() {
    return context;
  }

  @Override
  public long nanoTime() {
    return System.nanoTime();
  }

  @Override
  public long setTimer(long delayMs, Runnable action) {
    return vertx.setTimer(Math.max(1, delayMs), id -> action.run());
  }

  @Override
  public void cancelTimer(long id) {
    vertx.cancelTimer(id);
  }

  @Override
  public Future<Wire> connect(GuestTarget target, WireListener listener) {
    return client.connect(target.socketAddress()).map(socket -> {
      Wire wire = new SocketWire(socket);
      socket.handler(chunk -> listener.bytes(wire, chunk));
      socket.closeHandler(v -> listener.closed(wire, "connection closed"));
      socket.exceptionHandler(e -> {
        listener.closed(wire, "socket error: " + e.getMessage());
        socket.close();
      });
      return wire;
    });
  }

  @Override
  public Future<Void> close() {
    return client.close();
  }

  private record SocketWire(NetSocket socket) implements Wire {
    @Override
    public void write(Buffer bytes) {
      socket.write(bytes);
    }

    @Override
    public void close() {
      socket.close();
    }
  }
}
