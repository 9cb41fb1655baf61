package io.qgagateway.testing;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.parsetools.JsonParser;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A QEMU monitor as far as the gateway uses it: the greeting, {@code qmp_capabilities}, the
 * agent's virtserialport found under {@code /machine/peripheral}, {@code query-status},
 * {@code query-current-machine} and {@code system_wakeup}; events sent when a test says so.
 */
public final class FakeQmp {

  public static final String PORT_ID = "qga-port";

  private final Vertx vertx;
  private final NetServer server;
  private final List<NetSocket> clients = new CopyOnWriteArrayList<>();
  public final List<String> commands = new CopyOnWriteArrayList<>();
  private volatile String status = "running";
  private volatile boolean wakeupSupport = true;

  public FakeQmp(Vertx vertx) {
    this.vertx = vertx;
    this.server = vertx.createNetServer().connectHandler(this::serve);
  }

  public Future<FakeQmp> listen(String path) {
    return server.listen(SocketAddress.domainSocketAddress(path)).map(this);
  }

  public Future<Void> close() {
    return server.close();
  }

  public FakeQmp wakeupSupport(boolean supported) {
    this.wakeupSupport = supported;
    return this;
  }

  /** Sets the run state and sends the event QEMU would send for it. */
  public void state(String next, String event) {
    status = next;
    event(event, new JsonObject());
  }

  /** The agent opened or closed its port inside the guest. */
  public void agentPort(boolean open) {
    event("VSERPORT_CHANGE", new JsonObject().put("id", PORT_ID).put("open", open));
  }

  public void event(String name, JsonObject data) {
    JsonObject e = new JsonObject().put("event", name).put("data", data)
        .put("timestamp", new JsonObject().put("seconds", 0).put("microseconds", 0));
    clients.forEach(c -> c.write(e.encode() + "\r\n"));
  }

  private void serve(NetSocket socket) {
    clients.add(socket);
    socket.closeHandler(v -> clients.remove(socket));
    JsonParser parser = JsonParser.newParser().objectValueMode();
    parser.handler(event -> answer(socket, event.objectValue()));
    parser.exceptionHandler(e -> socket.close());
    socket.handler(parser);
    socket.write(new JsonObject().put("QMP", new JsonObject()
        .put("version", new JsonObject()).put("capabilities", new JsonArray())).encode() + "\r\n");
  }

  private void answer(NetSocket socket, JsonObject request) {
    String execute = request.getString("execute");
    commands.add(execute);
    Object result = switch (execute) {
      case "qom-list" -> new JsonArray()
          .add(new JsonObject().put("name", "serial0").put("type", "child<isa-serial>"))
          .add(new JsonObject().put("name", PORT_ID).put("type", "child<virtserialport>"));
      case "qom-get" -> "org.qemu.guest_agent.0";
      case "query-status" -> new JsonObject().put("status", status)
          .put("running", "running".equals(status));
      case "query-current-machine" -> new JsonObject().put("wakeup-suspend-support", wakeupSupport);
      case "system_wakeup" -> {
        vertx.setTimer(20, id -> state("running", "WAKEUP"));
        yield new JsonObject();
      }
      default -> new JsonObject();
    };
    socket.write(new JsonObject().put("return", result).put("id", request.getValue("id"))
        .encode() + "\r\n");
  }
}
