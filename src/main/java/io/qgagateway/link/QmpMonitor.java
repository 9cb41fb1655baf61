package io.qgagateway.link;

import io.qgagateway.protocol.FrameDecoder;
import io.qgagateway.protocol.FrameError;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetSocket;

import java.util.HashMap;
import java.util.Map;

/**
 * The hypervisor's view of one plain-QEMU guest, from its QMP monitor: the run state (running,
 * paused, suspended, shutdown; {@value #GONE} once QEMU is gone), whether the guest agent has
 * its virtio-serial port open ({@code VSERPORT_CHANGE}), and whether QEMU can wake the guest
 * from suspend. Also sends {@code system_wakeup}. What a socket client cannot see (an agent that
 * died and was restarted inside the guest, a guest that powered off under {@code -no-shutdown})
 * reaches the link at once through {@link Listener}.
 *
 * <p>Runs on the context it was created on (the guest's); reconnects with backoff.
 */
public final class QmpMonitor {

  /** The run state when QEMU's monitor is gone: QEMU exited (or never ran). */
  public static final String GONE = "shutoff";
  private static final Logger log = LoggerFactory.getLogger(QmpMonitor.class);
  private static final String AGENT_PORT_NAME = "org.qemu.guest_agent.0";
  private static final int MAX_MESSAGE_BYTES = 1024 * 1024;

  /** What the monitor learns, on the guest's context. */
  public interface Listener {
    void runState(String state);

    void agentPort(boolean open);
  }

  private final Vertx vertx;
  private final GuestTarget target;
  private final Listener listener;
  // Held in a field: Vert.x 5.1 closes an unreferenced NetClient, sockets and all, on GC.
  private final NetClient client;
  private final Backoff backoff = new Backoff(200, 5_000);
  private final Map<Long, Promise<Object>> pending = new HashMap<>();
  private final FrameDecoder decoder;

  private NetSocket socket;
  private boolean greeted;
  private long nextId = 1;
  private long reconnectTimer = -1;
  private boolean stopped;
  private volatile String runState;
  private String agentPortId;
  private volatile boolean wakeupSupported = true;

  public QmpMonitor(Vertx vertx, GuestTarget target, Listener listener) {
    this.vertx = vertx;
    this.target = target;
    this.listener = listener;
    this.client = vertx.createNetClient();
    this.decoder = new FrameDecoder(MAX_MESSAGE_BYTES, FrameDecoder.Recovery.AT_NEXT_OBJECT,
        new Messages());
  }

  /** The guest's run state as QEMU reports it; null before the monitor answered. */
  public String runState() {
    return runState;
  }

  /** Whether QEMU can wake the guest from suspend-to-RAM ({@code wakeup-suspend-support}). */
  public boolean wakeupSupported() {
    return wakeupSupported;
  }

  public void start() {
    connect();
  }

  public Future<Void> stop() {
    stopped = true;
    if (reconnectTimer >= 0) {
      vertx.cancelTimer(reconnectTimer);
    }
    NetSocket s = socket;
    socket = null;
    failPending("the QMP monitor was closed");
    Future<Void> closed = s == null ? Future.succeededFuture() : s.close();
    return closed.transform(ar -> client.close());
  }

  /** {@code system_wakeup}: wakes a suspended guest (the WAKEUP event follows). */
  public Future<Void> wakeup() {
    return command("system_wakeup", null).mapEmpty();
  }

  private void connect() {
    reconnectTimer = -1;
    if (stopped) {
      return;
    }
    client.connect(target.qmpAddress()).onComplete(ar -> {
      if (stopped) {
        if (ar.succeeded()) {
          ar.result().close();
        }
        return;
      }
      if (ar.failed()) {
        gone("QMP connect failed: " + ar.cause().getMessage());
        return;
      }
      NetSocket s = ar.result();
      socket = s;
      greeted = false;
      decoder.reset();
      s.handler(decoder::feed);
      s.closeHandler(v -> {
        if (socket == s) {
          socket = null;
          gone("QMP connection closed");
        }
      });
      s.exceptionHandler(e -> s.close());
    });
  }

  /** No monitor: QEMU is not running. */
  private void gone(String why) {
    failPending(why);
    log.debug("guest " + target.name() + ": " + why);
    setRunState(GONE);
    if (!stopped) {
      reconnectTimer = vertx.setTimer(backoff.next(), id -> connect());
    }
  }

  private void failPending(String why) {
    Map<Long, Promise<Object>> copy = new HashMap<>(pending);
    pending.clear();
    copy.values().forEach(p -> p.tryFail(why));
  }

  /** After the greeting: capabilities, the agent's port, wake-up support, the run state. */
  private void negotiate() {
    command("qmp_capabilities", null)
        .compose(v -> findAgentPort())
        .compose(v -> command("query-current-machine", null)
            .onSuccess(m -> wakeupSupported = !(m instanceof JsonObject o)
                || o.getBoolean("wakeup-suspend-support", true))
            .recover(e -> Future.succeededFuture()))
        .compose(v -> refreshStatus())
        .onSuccess(v -> backoff.reset())
        .onFailure(e -> log.warn("guest " + target.name() + ": QMP set-up failed: "
            + e.getMessage()));
  }

  /**
   * VSERPORT_CHANGE names the port by its device id: find the virtserialport whose name is the
   * agent's. A port without an id sends no events (libvirt always sets one).
   */
  private Future<Void> findAgentPort() {
    return command("qom-list", new JsonObject().put("path", "/machine/peripheral"))
        .compose(list -> {
          Future<Void> chain = Future.succeededFuture();
          if (list instanceof JsonArray children) {
            for (Object c : children) {
              if (c instanceof JsonObject child
                  && String.valueOf(child.getValue("type")).contains("virtserialport")) {
                String id = child.getString("name");
                chain = chain.compose(v -> command("qom-get", new JsonObject()
                    .put("path", "/machine/peripheral/" + id).put("property", "name"))
                    .map(name -> {
                      if (AGENT_PORT_NAME.equals(name)) {
                        agentPortId = id;
                      }
                      return (Void) null;
                    })
                    .recover(e -> Future.succeededFuture()));
              }
            }
          }
          return chain.onSuccess(v -> {
            if (agentPortId == null) {
              log.warn("guest " + target.name() + ": no virtserialport named " + AGENT_PORT_NAME
                  + " with an id under /machine/peripheral; agent restarts are not seen (give"
                  + " the -device an id=)");
            }
          });
        });
  }

  private Future<Void> refreshStatus() {
    return command("query-status", null).map(status -> {
      if (status instanceof JsonObject o && o.getValue("status") instanceof String s) {
        setRunState(s);
      }
      return null;
    });
  }

  private Future<Object> command(String execute, JsonObject arguments) {
    NetSocket s = socket;
    if (s == null) {
      return Future.failedFuture("no QMP connection");
    }
    long id = nextId++;
    Promise<Object> reply = Promise.promise();
    pending.put(id, reply);
    JsonObject request = new JsonObject().put("execute", execute).put("id", id);
    if (arguments != null) {
      request.put("arguments", arguments);
    }
    s.write(request.toBuffer().appendString("\n"));
    return reply.future();
  }

  private void setRunState(String state) {
    if (!state.equals(runState)) {
      runState = state;
      listener.runState(state);
    }
  }

  private void onEvent(String event, JsonObject data) {
    switch (event) {
      case "VSERPORT_CHANGE" -> {
        if (agentPortId != null && agentPortId.equals(data.getString("id"))) {
          listener.agentPort(data.getBoolean("open", false));
        }
      }
      case "SUSPEND" -> setRunState("suspended");
      case "SHUTDOWN" -> setRunState("shutdown");
      case "STOP", "RESUME", "WAKEUP", "RESET" -> refreshStatus()
          .onFailure(e -> log.debug("query-status after " + event + " failed: " + e));
      default -> {
        // other events say nothing about whether the agent can answer
      }
    }
  }

  private final class Messages implements FrameDecoder.Listener {
    @Override
    public void onObject(JsonObject message, int size) {
      if (!greeted) {
        if (message.containsKey("QMP")) {
          greeted = true;
          negotiate();
        }
        return;
      }
      if (message.getValue("event") instanceof String event) {
        onEvent(event, message.getJsonObject("data", new JsonObject()));
        return;
      }
      Promise<Object> p = message.getValue("id") instanceof Number n
          ? pending.remove(n.longValue()) : null;
      if (p == null) {
        return;
      }
      if (message.getValue("error") instanceof JsonObject error) {
        p.tryFail(error.getString("class") + ": " + error.getString("desc"));
      } else {
        p.tryComplete(message.getValue("return"));
      }
    }

    @Override
    public void onDelimiter() {
      // QMP sends no 0xFF
    }

    @Override
    public void onError(FrameError error, String detail) {
      log.debug("guest " + target.name() + ": QMP output dropped: " + detail);
    }
  }
}
