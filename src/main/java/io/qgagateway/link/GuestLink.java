package io.qgagateway.link;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.protocol.AgentError;
import io.qgagateway.protocol.AgentReply;
import io.qgagateway.protocol.AgentRequests;
import io.qgagateway.protocol.FrameDecoder;
import io.qgagateway.protocol.FrameError;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetSocket;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The connection to one guest's agent: one socket, one command in flight, a bounded queue.
 *
 * <p>Correctness rests on three rules. Nothing is written before the link is in sync, and a sync
 * (0xFF + {@code guest-sync-delimited} with a fresh random id) drops everything up to its own
 * delimited return, so whatever earlier clients, timeouts or faults left in the stream is gone.
 * Only one command is written at a time, so the next reply belongs to it. And any doubt (a
 * timeout, a protocol error, an unsolicited reply, a command that never answers) resyncs before
 * anything else is sent. So a late reply is never handed to the next request.
 *
 * <p>All methods must be called on the context the link was created on (its verticle's).
 */
public final class GuestLink {

  private static final Logger log = LoggerFactory.getLogger(GuestLink.class);
  private static final String GUEST_INFO = "guest-info";

  private final Vertx vertx;
  private final Context context;
  private final GuestTarget target;
  private final LinkOptions options;
  private final LinkObserver observer;
  // Held in a field: Vert.x 5.1 closes an unreferenced NetClient, sockets and all, on GC.
  private final NetClient client;
  private final FrameDecoder decoder;
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();

  private NetSocket socket;
  // read from other threads by the fleet listing and the metrics gauges
  private volatile LinkState state = LinkState.DISCONNECTED;
  private volatile Instant since = Instant.now();
  private volatile String lastError;
  private volatile int queued;
  private boolean stopped;
  private int reconnectAttempts;
  private long reconnectTimer = -1;

  private Pending inFlight;
  private long graceTimer = -1;
  // one timer for all requests' deadlines, armed for the earliest (see armDeadline)
  private long deadlineTimer = -1;
  private long deadlineTimerAt;

  private long syncId;
  private long syncStartNanos;
  private ResyncReason syncReason;
  private boolean delimiterSeen;
  private int syncAttempts;
  private long syncTimer = -1;
  private Pending manualSync;

  private volatile JsonObject agentInfo;

  public GuestLink(Vertx vertx, GuestTarget target, LinkOptions options, LinkObserver observer) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.target = target;
    this.options = options;
    this.observer = observer;
    this.client = vertx.createNetClient();
    this.decoder = new FrameDecoder(options.maxReplyBytes(), new DecoderListener());
  }

  public GuestTarget target() {
    return target;
  }

  public String name() {
    return target.name();
  }

  public LinkState state() {
    return state;
  }

  /** When the link entered its current state. */
  public Instant since() {
    return since;
  }

  /** The last connection or protocol problem, null once in sync again. */
  public String lastError() {
    return lastError;
  }

  /** Commands waiting; safe to read from any thread. */
  public int queued() {
    return queued;
  }

  public Context context() {
    return context;
  }

  /** The {@code guest-info} return cached after the last sync, or null before the first. */
  public JsonObject agentInfo() {
    return agentInfo;
  }

  public void start() {
    connect();
  }

  /** Fails what waits, closes the socket and stops reconnecting. */
  public Future<Void> stop() {
    stopped = true;
    cancelTimer(reconnectTimer);
    cancelTimer(syncTimer);
    cancelTimer(graceTimer);
    cancelTimer(deadlineTimer);
    deadlineTimer = -1;
    if (inFlight != null) {
      finish(inFlight, Failures.of(Codes.NOT_CONNECTED, "the guest link was closed"));
    }
    if (manualSync != null) {
      finish(manualSync, Failures.of(Codes.NOT_CONNECTED, "the guest link was closed"));
    }
    failQueue(Failures.of(Codes.NOT_CONNECTED, "the guest link was closed"));
    NetSocket s = socket;
    socket = null;
    setState(LinkState.DISCONNECTED);
    Future<Void> closed = s == null ? Future.succeededFuture() : s.close();
    return closed.transform(ar -> client.close());
  }

  /**
   * Queues one command. Succeeds with {@code {"return": X}}, or {@code {"sent": true}} for a
   * command without success response once its grace window passed without an error (or the
   * socket closed before any error came: a VM that powered off); fails with a
   * contract code. Every call completes exactly once, within {@code timeoutMs}.
   */
  public Future<JsonObject> execute(String command, JsonObject arguments, long timeoutMs,
                                    boolean successResponse) {
    return enqueue(new Pending(command, arguments, successResponse, false), timeoutMs, false);
  }

  /** Resyncs in turn, after what is queued; succeeds with {@code {"return": {"rttMicros": N}}}. */
  public Future<JsonObject> resync(long timeoutMs) {
    return enqueue(new Pending(null, null, true, true), timeoutMs, false);
  }

  private Future<JsonObject> enqueue(Pending p, long timeoutMs, boolean first) {
    if (stopped) {
      return Failures.fail(Codes.NOT_CONNECTED, "the guest link was closed");
    }
    if (!first && queue.size() >= options.queueSize()) {
      return Failures.fail(Codes.BUSY, "the command queue of guest " + name() + " is full ("
          + options.queueSize() + ")");
    }
    p.timeoutMs = timeoutMs;
    p.deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    armDeadline(p.deadline);
    if (first) {
      queue.addFirst(p);
    } else {
      queue.addLast(p);
    }
    queued = queue.size();
    pump();
    return p.promise.future();
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  private void connect() {
    if (stopped) {
      return;
    }
    reconnectTimer = -1;
    setState(LinkState.CONNECTING);
    client.connect(target.socketAddress()).onComplete(ar -> {
      if (stopped) {
        if (ar.succeeded()) {
          ar.result().close();
        }
        return;
      }
      if (ar.failed()) {
        lastError = "connect failed: " + ar.cause().getMessage();
        setState(LinkState.DISCONNECTED);
        scheduleReconnect();
        return;
      }
      onConnected(ar.result());
    });
  }

  private void onConnected(NetSocket s) {
    socket = s;
    decoder.reset();
    s.handler(this::onBytes);
    s.closeHandler(v -> onClosed(s, "connection closed"));
    s.exceptionHandler(e -> lastError = "socket error: " + e.getMessage());
    observer.connected(this);
    syncAttempts = 0;
    startSync(ResyncReason.CONNECT);
  }

  private void onBytes(Buffer chunk) {
    decoder.feed(chunk);
  }

  private void onClosed(NetSocket s, String reason) {
    if (s != socket) {
      return;
    }
    socket = null;
    cancelTimer(syncTimer);
    cancelTimer(graceTimer);
    lastError = reason;
    if (inFlight != null && !inFlight.successResponse) {
      // shutdown: a VM powers off ~0.5 s after it, and QEMU's exit closes the socket, maybe
      // within the grace window; no error came before the EOF, so the command was carried out
      finish(inFlight, new JsonObject().put("sent", true));
    } else if (inFlight != null) {
      finish(inFlight, Failures.of(Codes.NOT_CONNECTED,
          "the agent connection closed before the reply"));
    }
    if (manualSync != null) {
      // still queued work gets its chance after the reconnect; a sync just happens then anyway
      finish(manualSync, Failures.of(Codes.NOT_CONNECTED, "the agent connection closed"));
    }
    setState(LinkState.DISCONNECTED);
    observer.disconnected(this, reason);
    if (!stopped) {
      scheduleReconnect();
    }
  }

  /** Drops the connection on our side, e.g. after a sync that never completes. */
  private void dropConnection(String reason) {
    NetSocket s = socket;
    if (s != null) {
      onClosed(s, reason);
      s.close();
    }
  }

  private void scheduleReconnect() {
    long ceiling = Math.min(options.reconnectMaxMs(),
        options.reconnectInitialMs() << Math.min(reconnectAttempts, 20));
    reconnectAttempts++;
    // "equal jitter": at least half the delay, so a fleet that lost its agents at once spreads out
    long delay = ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1);
    reconnectTimer = vertx.setTimer(Math.max(1, delay), id -> connect());
  }

  // ---- sync -------------------------------------------------------------------------------------

  private void startSync(ResyncReason reason) {
    if (socket == null) {
      return;
    }
    cancelTimer(syncTimer);
    setState(LinkState.SYNCING);
    syncReason = reason;
    // 63 bits: positive, so it survives any JSON number handling on either side
    syncId = ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE;
    delimiterSeen = false;
    syncStartNanos = System.nanoTime();
    socket.write(AgentRequests.syncDelimited(syncId));
    syncTimer = vertx.setTimer(options.syncTimeoutMs(), id -> onSyncTimeout());
  }

  private void onSyncTimeout() {
    syncTimer = -1;
    syncAttempts++;
    lastError = "no answer to guest-sync-delimited within " + options.syncTimeoutMs() + " ms";
    if (syncAttempts >= options.syncAttempts()) {
      log.debug("guest " + name() + ": " + lastError + ", " + syncAttempts + " times; redialling");
      dropConnection(lastError);
    } else {
      startSync(syncReason);
    }
  }

  private void onSynced() {
    cancelTimer(syncTimer);
    long nanos = System.nanoTime() - syncStartNanos;
    syncAttempts = 0;
    reconnectAttempts = 0;
    lastError = null;
    setState(LinkState.READY);
    observer.resynced(this, syncReason, nanos);
    refreshInfo();
    if (manualSync != null) {
      Pending p = manualSync;
      manualSync = null;
      finish(p, new JsonObject().put("return", new JsonObject().put("rttMicros", nanos / 1000)));
    }
    pump();
  }

  /** guest-info goes first after every sync, so policy checks see what this agent enables. */
  private void refreshInfo() {
    enqueue(new Pending(GUEST_INFO, null, true, false), options.infoTimeoutMs(), true)
        .onSuccess(reply -> {
          if (reply.getValue("return") instanceof JsonObject info) {
            agentInfo = info;
            observer.infoUpdated(this);
          }
        });
  }

  // ---- commands ---------------------------------------------------------------------------------

  private void pump() {
    if (stopped || state != LinkState.READY || inFlight != null || manualSync != null
        || socket == null) {
      return;
    }
    Pending p = queue.pollFirst();
    if (p == null) {
      return;
    }
    queued = queue.size();
    if (p.sync) {
      manualSync = p;
      startSync(ResyncReason.MANUAL);
      return;
    }
    inFlight = p;
    socket.write(AgentRequests.command(p.command, p.arguments));
    if (!p.successResponse) {
      graceTimer = vertx.setTimer(Math.max(1, options.noResponseGraceMs()), id -> {
        graceTimer = -1;
        if (inFlight == p) {
          startSync(ResyncReason.AFTER_NO_RESPONSE);
          finish(p, new JsonObject().put("sent", true));
        }
      });
    }
  }

  /**
   * Makes sure the deadline timer fires by {@code deadline}. Requests come with deadlines later
   * than the one armed nearly always, so most need no timer of their own: one timer per link,
   * re-armed when it fires, instead of a timer set and cancelled for every command.
   */
  private void armDeadline(long deadline) {
    if (deadlineTimer >= 0 && deadlineTimerAt <= deadline) {
      return;
    }
    cancelTimer(deadlineTimer);
    deadlineTimerAt = deadline;
    long delayMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime() + 999_999);
    deadlineTimer = vertx.setTimer(Math.max(1, delayMs), id -> onDeadlineTimer());
  }

  /** Expires what is due, then re-arms for the earliest request still waiting. */
  private void onDeadlineTimer() {
    deadlineTimer = -1;
    long now = System.nanoTime();
    List<Pending> due = new ArrayList<>();
    for (Pending p : waiting()) {
      if (p.deadline - now <= 0) {
        due.add(p);
      }
    }
    due.forEach(this::expire);
    List<Pending> left = waiting();
    if (!left.isEmpty()) {
      long earliest = left.get(0).deadline;
      for (Pending p : left) {
        earliest = p.deadline - earliest < 0 ? p.deadline : earliest;
      }
      armDeadline(earliest);
    }
  }

  /** Every request not completed yet: in flight, a manual sync, the queue. */
  private List<Pending> waiting() {
    List<Pending> out = new ArrayList<>(queue.size() + 2);
    if (inFlight != null) {
      out.add(inFlight);
    }
    if (manualSync != null) {
      out.add(manualSync);
    }
    out.addAll(queue);
    out.removeIf(p -> p.promise.future().isComplete());
    return out;
  }

  private void expire(Pending p) {
    if (p.promise.future().isComplete()) {
      return;
    }
    long timeoutMs = p.timeoutMs;
    if (p == inFlight) {
      cancelTimer(graceTimer);
      startSync(ResyncReason.TIMEOUT);
      finish(p, Failures.of(Codes.TIMEOUT, "no reply from the agent of " + name() + " within "
          + timeoutMs + " ms"));
    } else if (p == manualSync) {
      manualSync = null;
      finish(p, Failures.of(Codes.TIMEOUT, "the agent of " + name() + " did not sync within "
          + timeoutMs + " ms"));
    } else {
      queue.remove(p);
      queued = queue.size();
      boolean connected = state == LinkState.READY;
      p.promise.fail(connected
          ? Failures.of(Codes.TIMEOUT, "still queued behind other commands of " + name()
              + " after " + timeoutMs + " ms")
          : Failures.of(Codes.NOT_CONNECTED, "the agent of " + name() + " is not connected ("
              + (lastError == null ? state.label() : lastError) + ")"));
    }
  }

  private void onReply(JsonObject object) {
    Pending p = inFlight;
    AgentReply reply = AgentReply.of(object);
    if (p == null) {
      observer.discarded(this, reply != null && reply.isError()
          ? DiscardKind.STRAY_ERROR : DiscardKind.STALE_REPLY);
      lastError = "unsolicited agent output";
      startSync(ResyncReason.PROTOCOL_ERROR);
      return;
    }
    if (reply == null) {
      observer.discarded(this, DiscardKind.GARBAGE);
      protocolError("reply is neither a return nor an error");
      return;
    }
    cancelTimer(graceTimer);
    if (reply.isError()) {
      AgentError error = reply.error();
      finish(p, Failures.of(error.code(), error.message()));
    } else if (p.successResponse) {
      finish(p, new JsonObject().put("return", reply.returnValue()));
    } else {
      startSync(ResyncReason.AFTER_NO_RESPONSE);
      finish(p, new JsonObject().put("sent", true));
    }
  }

  private void protocolError(String detail) {
    lastError = "protocol error: " + detail;
    Pending p = inFlight;
    cancelTimer(graceTimer);
    startSync(ResyncReason.PROTOCOL_ERROR);
    if (p != null) {
      finish(p, Failures.of(Codes.AGENT_ERROR, "ProtocolError: " + detail));
    }
  }

  /**
   * Completes a request. Its handlers run right here and may queue (and so write) the next
   * command: callers that resync must enter SYNCING before calling this.
   */
  private void finish(Pending p, Object outcome) {
    if (p == inFlight) {
      inFlight = null;
    }
    if (outcome instanceof JsonObject result) {
      p.promise.tryComplete(result);
    } else {
      p.promise.tryFail((Throwable) outcome);
    }
    // callers that resync entered SYNCING first, so this writes only onto a stream in step
    pump();
  }

  private void failQueue(Throwable failure) {
    for (Iterator<Pending> it = queue.iterator(); it.hasNext(); ) {
      Pending p = it.next();
      it.remove();
      p.promise.tryFail(failure);
    }
    queued = 0;
  }

  private void setState(LinkState next) {
    if (next != state) {
      state = next;
      since = Instant.now();
    }
  }

  private void cancelTimer(long id) {
    if (id >= 0) {
      vertx.cancelTimer(id);
    }
  }

  private final class DecoderListener implements FrameDecoder.Listener {
    @Override
    public void onObject(JsonObject object, int size) {
      switch (state) {
        case SYNCING -> onSyncingObject(object);
        case READY -> onReply(object);
        default -> { /* connection is being replaced; nothing to match it to */ }
      }
    }

    @Override
    public void onDelimiter() {
      if (state == LinkState.SYNCING) {
        delimiterSeen = true;
      } else if (state == LinkState.READY) {
        protocolError("unexpected 0xFF outside a sync");
      }
    }

    @Override
    public void onError(FrameError error, String detail) {
      observer.discarded(GuestLink.this,
          error == FrameError.OVERSIZED ? DiscardKind.OVERSIZED : DiscardKind.GARBAGE);
      if (state == LinkState.READY) {
        protocolError(detail);
      }
    }

    private void onSyncingObject(JsonObject object) {
      boolean afterDelimiter = delimiterSeen;
      delimiterSeen = false;
      Object value = object.getValue("return");
      if (afterDelimiter && value instanceof Number n && n.longValue() == syncId) {
        onSynced();
        return;
      }
      observer.discarded(GuestLink.this, object.containsKey("error")
          ? DiscardKind.STRAY_ERROR
          : object.containsKey("return") ? DiscardKind.STALE_REPLY : DiscardKind.GARBAGE);
    }
  }

  private static final class Pending {
    final String command;
    final JsonObject arguments;
    final boolean successResponse;
    final boolean sync;
    final Promise<JsonObject> promise = Promise.promise();
    long timeoutMs;
    long deadline;

    Pending(String command, JsonObject arguments, boolean successResponse, boolean sync) {
      this.command = command;
      this.arguments = arguments;
      this.successResponse = successResponse;
      this.sync = sync;
    }
  }
}
