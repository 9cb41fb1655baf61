package io.qgagateway.sim;

import io.qgagateway.protocol.FrameDecoder;
import io.qgagateway.protocol.FrameError;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A simulated qemu-ga serving one guest on a Unix socket or a loopback TCP port, with the wire
 * behaviour of the real agent (see qemu-ga-protocol.md): compact replies ending in a newline, the
 * "stray" error for every 0xFF, {@code guest-sync-delimited} answered with 0xFF first, echoed
 * {@code id}s, one error per run of garbage, no reply for shutdown and suspend, refusals while
 * frozen, and the state of a small Linux guest.
 *
 * <p>Like the agent behind a virtio-serial port it serves one client at a time (others wait until
 * it disconnects), its parser state survives reconnects, and replies written while no client is
 * connected go to the next one.
 *
 * <p>Create it on any thread; it lives on the context it was created on (an event loop of its own
 * when created outside Vert.x) and reads and writes only there.
 */
public final class SimulatedAgent {

  public static final String VERSION = "10.0.0-sim";
  /** The agent's parser allows 64 MiB per token. */
  private static final int MAX_REQUEST_BYTES = 64 * 1024 * 1024;
  private static final String STRAY_DESC = "JSON parse error, stray '\uFFFD'";
  private static final Set<String> ENVELOPE = Set.of("execute", "arguments", "id");

  /**
   * Settings of one simulated agent.
   *
   * @param blocked      commands disabled like {@code --block-rpcs}
   * @param version      what {@code guest-info} reports
   * @param historyLimit how many received requests {@link #received()} keeps (0: none)
   * @param writer       how replies reach the wire, see {@link ReplyWriter}
   */
  public record Options(Set<String> blocked, String version, int historyLimit, ReplyWriter writer) {

    public static final Options DEFAULTS = new Options(Set.of(), VERSION, 10_000, ReplyWriter.DIRECT);

    public Options withBlocked(String... commands) {
      return new Options(Set.of(commands), version, historyLimit, writer);
    }

    public Options withHistoryLimit(int limit) {
      return new Options(blocked, version, limit, writer);
    }

    public Options withWriter(ReplyWriter replyWriter) {
      return new Options(blocked, version, historyLimit, replyWriter);
    }
  }

  private record Input(JsonObject request, boolean delimiter) {
  }

  private final Vertx vertx;
  private final Context context;
  private final SimulatedGuest guest;
  private final AgentCommands catalog;
  private final Options options;
  private final Port port = new Port();
  // the agent's own lexer: like qemu-ga's parser it outlives client connections
  private final FrameDecoder decoder;
  private final ArrayDeque<Input> inbox = new ArrayDeque<>(4);
  private final ArrayDeque<JsonObject> history = new ArrayDeque<>();

  // Held in a field: Vert.x 5.1 closes an unreferenced server on GC.
  private NetServer server;
  private NetSocket active;
  private ArrayDeque<NetSocket> waiting;
  private Buffer undelivered;
  private Promise<Void> silenced;
  private boolean busy;

  public SimulatedAgent(Vertx vertx, String hostName) {
    this(vertx, hostName, Options.DEFAULTS);
  }

  public SimulatedAgent(Vertx vertx, String hostName, Options options) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.guest = new SimulatedGuest(hostName);
    this.options = options;
    this.catalog = new AgentCommands(options.blocked(), options.version());
    this.decoder = new FrameDecoder(MAX_REQUEST_BYTES, FrameDecoder.Recovery.AT_NEXT_OBJECT,
        new Lexer());
  }

  /** Every command name this agent knows, in {@code guest-info} order. */
  public static Set<String> commandNames() {
    return AgentCommands.names();
  }

  public Future<SimulatedAgent> listenUnix(String path) {
    return listen(SocketAddress.domainSocketAddress(path));
  }

  /** Listens on 127.0.0.1; port 0 picks a free one, see {@link #port()}. */
  public Future<SimulatedAgent> listenTcp(int tcpPort) {
    return listen(SocketAddress.inetSocketAddress(tcpPort, "127.0.0.1"));
  }

  private Future<SimulatedAgent> listen(SocketAddress address) {
    Promise<SimulatedAgent> listening = Promise.promise();
    context.runOnContext(v -> {
      server = vertx.createNetServer().connectHandler(this::onConnect);
      server.listen(address).map(this).onComplete(listening);
    });
    return listening.future();
  }

  /** The bound TCP port, or -1 before listening or for a Unix socket. */
  public int port() {
    NetServer s = server;
    return s == null ? -1 : s.actualPort();
  }

  /** Stops listening and drops its clients. */
  public Future<Void> close() {
    Promise<Void> closed = Promise.promise();
    context.runOnContext(v -> {
      NetServer s = server;
      server = null;
      if (active != null) {
        active.close();
      }
      if (waiting != null) {
        waiting.forEach(NetSocket::close);
      }
      (s == null ? Future.<Void>succeededFuture() : s.close()).onComplete(closed);
    });
    return closed.future();
  }

  /** The simulated guest, e.g. to check a password or put a file. Touch it on the agent's context. */
  public SimulatedGuest guest() {
    return guest;
  }

  public Context context() {
    return context;
  }

  /** The requests received so far, oldest first (up to the history limit). */
  public List<JsonObject> received() {
    synchronized (history) {
      return new ArrayList<>(history);
    }
  }

  // ---- connections -----------------------------------------------------------------------------

  private void onConnect(NetSocket socket) {
    socket.exceptionHandler(e -> { /* a client reset; its close handler follows */ });
    if (active == null) {
      activate(socket);
      return;
    }
    // virtio-serial serves the next client only once the current one is gone
    socket.pause();
    if (waiting == null) {
      waiting = new ArrayDeque<>(2);
    }
    waiting.add(socket);
    socket.closeHandler(v -> waiting.remove(socket));
  }

  private void activate(NetSocket socket) {
    active = socket;
    socket.handler(decoder::feed);
    socket.closeHandler(v -> onActiveClosed(socket));
    if (undelivered != null) {
      socket.write(undelivered);
      undelivered = null;
    }
    if (busy) {
      socket.pause();
    } else {
      socket.resume();
    }
  }

  private void onActiveClosed(NetSocket socket) {
    if (socket != active) {
      return;
    }
    active = null;
    if (silenced != null) {
      Promise<Void> p = silenced;
      silenced = null;
      p.complete();
    }
    NetSocket next = waiting == null ? null : waiting.poll();
    if (next != null) {
      activate(next);
    }
  }

  // ---- requests ----------------------------------------------------------------------------------

  private void drain() {
    while (!busy && !inbox.isEmpty()) {
      Exchange exchange = answer(inbox.poll());
      Future<Void> written = options.writer().write(exchange, port);
      if (!written.isComplete()) {
        // the real agent reads nothing while it works on a request
        busy = true;
        if (active != null) {
          active.pause();
        }
        written.onComplete(ar -> {
          busy = false;
          if (active != null && silenced == null) {
            active.resume();
          }
          drain();
        });
      }
    }
  }

  private Exchange answer(Input input) {
    if (input.delimiter) {
      return new Exchange(Exchange.Kind.DELIMITER, null, null, error("GenericError", STRAY_DESC, null));
    }
    if (input.request == null) {
      return new Exchange(Exchange.Kind.PARSE_ERROR, null, null,
          error("GenericError", "JSON parse error, invalid keyword", null));
    }
    JsonObject request = input.request;
    record(request);
    Object id = request.getValue("id");
    String command = request.getValue("execute") instanceof String s ? s : null;
    Buffer reply;
    try {
      AgentCommand c = resolve(request, command);
      Object args = request.getValue("arguments");
      JsonObject arguments = args == null ? new JsonObject() : (JsonObject) args;
      Param.check(c.params(), arguments);
      Object result = c.body().run(guest, arguments, catalog);
      if (!c.successResponse()) {
        reply = null;
      } else {
        reply = encode(new JsonObject().put("return", result), id);
        if (c.name().equals("guest-sync-delimited")) {
          reply = Buffer.buffer(reply.length() + 1).appendByte((byte) 0xFF).appendBuffer(reply);
        }
      }
    } catch (CommandError e) {
      reply = encode(new JsonObject().put("error", e.toJson()), id);
    }
    return new Exchange(Exchange.Kind.COMMAND, request, command, reply);
  }

  /** The checks qemu-ga makes before a command runs, in its order. */
  private AgentCommand resolve(JsonObject request, String command) {
    for (String member : request.fieldNames()) {
      if (!ENVELOPE.contains(member)) {
        throw CommandError.generic("QMP input member '" + member + "' is unexpected");
      }
    }
    if (command == null) {
      throw CommandError.generic(request.containsKey("execute")
          ? "QMP input member 'execute' must be a string" : "QMP input lacks member 'execute'");
    }
    Object args = request.getValue("arguments");
    if (args != null && !(args instanceof JsonObject)) {
      throw CommandError.generic("QMP input member 'arguments' must be an object");
    }
    AgentCommand c = catalog.find(command);
    if (c == null) {
      throw new CommandError("CommandNotFound", "The command " + command + " has not been found");
    }
    if (catalog.blocked(command)) {
      throw new CommandError("CommandNotFound", "Command " + command + " has been disabled");
    }
    if (guest.frozen() && !c.allowedWhenFrozen()) {
      throw new CommandError("CommandNotFound", "Command " + command
          + " has been disabled: the agent is in frozen state");
    }
    return c;
  }

  private void record(JsonObject request) {
    if (options.historyLimit() <= 0) {
      return;
    }
    synchronized (history) {
      if (history.size() >= options.historyLimit()) {
        history.pollFirst();
      }
      history.addLast(request);
    }
  }

  private static Buffer error(String errorClass, String desc, Object id) {
    return encode(new JsonObject().put("error", new CommandError(errorClass, desc).toJson()), id);
  }

  /** One compact line, with the request's id echoed when it had one. */
  static Buffer encode(JsonObject reply, Object id) {
    if (id != null) {
      reply.put("id", id);
    }
    return reply.toBuffer().appendByte((byte) '\n');
  }

  private final class Lexer implements FrameDecoder.Listener {
    @Override
    public void onObject(JsonObject object, int size) {
      inbox.add(new Input(object, false));
      drain();
    }

    @Override
    public void onDelimiter() {
      inbox.add(new Input(null, true));
      drain();
    }

    @Override
    public void onError(FrameError error, String detail) {
      inbox.add(new Input(null, false));
      drain();
    }
  }

  private final class Port implements AgentPort {
    @Override
    public Future<Void> write(Buffer bytes) {
      if (active != null) {
        return active.write(bytes);
      }
      undelivered = undelivered == null ? bytes.copy() : undelivered.appendBuffer(bytes);
      return Future.succeededFuture();
    }

    @Override
    public void closeConnection() {
      if (active != null) {
        active.close();
      }
    }

    @Override
    public Future<Void> silence() {
      if (active == null) {
        return Future.succeededFuture();
      }
      active.pause();
      if (silenced == null) {
        silenced = Promise.promise();
      }
      return silenced.future();
    }

    @Override
    public Vertx vertx() {
      return vertx;
    }
  }
}
