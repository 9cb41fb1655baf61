package io.qgagateway.link;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.protocol.AgentError;
import io.qgagateway.protocol.AgentReply;
import io.qgagateway.protocol.AgentRequests;
import io.qgagateway.protocol.FrameDecoder;
import io.qgagateway.protocol.FrameError;
import io.qgagateway.protocol.RequestLimits;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The gateway's own connection to one guest's agent: one socket, one command in flight, a
 * bounded queue. A state machine ({@link LinkPhase}) fed by a {@link LinkDriver}: bytes in,
 * writes out, time injected.
 *
 * <p>Correctness rests on four rules. Nothing is written before the link is in sync, and a sync
 * (0xFF + {@code guest-sync-delimited} with a fresh random id) drops everything up to its own
 * delimited return, so whatever earlier clients, timeouts or faults left in the stream is gone.
 * Only one command is written at a time, and where the agent echoes request ids (learned at
 * sync) it carries a fresh random id, so only its own reply completes it. Nothing is written that
 * the agent's parser would split into several requests ({@link RequestLimits}). And any doubt (a
 * timeout, a protocol or parse error, a reply for nobody, a request the agent lost) resyncs
 * before anything else is sent. So a reply is never handed to the wrong request.
 *
 * <p>All methods but the getters must be called on the driver's context.
 */
public final class GuestLink extends ChannelStatus {

  private static final Logger log = LoggerFactory.getLogger(GuestLink.class);
  static final String GUEST_INFO = "guest-info";
  static final String FREEZE_STATUS = "guest-fsfreeze-status";
  private static final long MAX_PROBE_INTERVAL_MS = 30_000;
  private static final JsonObject SENT = new JsonObject().put("sent", true);

  private final LinkOptions options;
  private final LinkObserver observer;
  private final LinkDriver driver;
  private final FrameDecoder decoder;
  private final Backoff backoff;
  private final LinkDriver.WireListener wireListener = new WireEvents();
  private final ArrayDeque<LinkRequest> queue = new ArrayDeque<>();
  // syncs pipelined behind commands, oldest first
  private final ArrayDeque<LinkRequest.Probe> probes = new ArrayDeque<>();

  // read by released() from any thread
  private volatile LinkPhase phase = LinkPhase.DISCONNECTED;
  private LinkDriver.Wire wire;
  private long reconnectTimer = -1;

  // read from other threads by the fleet listing and the metrics gauges
  private volatile ReplyMatching matching;

  // SYNCING
  private long syncId;
  private long syncStartNanos;
  private ResyncReason syncReason;
  private int syncAttempts;
  private long syncTimer = -1;
  private boolean idMemberRejected;
  private LinkRequest.Sync manualSync;
  private boolean delimiterSeen;

  // AWAITING_REPLY, AWAITING_EVIDENCE
  private LinkRequest.Command inFlight;
  // one probe timer per link (see probeSoon); it outlives the command it was armed for
  private long probeTimer = -1;
  private long probeTimerAt;
  private long probeDelayMs;
  private long probeDueNanos;
  private long evidenceTimer = -1;
  private long idleTimer = -1;
  // a reply that belongs to nobody was seen: resync before writing anything else
  private boolean dirty;

  // one timer for all requests' deadlines, armed for the earliest (see armDeadline)
  private long deadlineTimer = -1;
  private long deadlineTimerAt;

  private RefreshListener refreshListener = status -> { };

  // the hypervisor's view, where the guest's QMP monitor is configured
  private HypervisorView view;
  // a sync is due but waits for the guest to run and its agent to open its port
  private boolean syncHeld;

  public GuestLink(Vertx vertx, GuestTarget target, LinkOptions options, LinkObserver observer) {
    this(new SocketDriver(vertx), target, options, observer);
  }

  public GuestLink(LinkDriver driver, GuestTarget target, LinkOptions options,
                   LinkObserver observer) {
    super(target, LinkState.DISCONNECTED, null);
    this.driver = driver;
    this.options = options;
    this.observer = observer;
    this.decoder = new FrameDecoder(options.maxReplyBytes(), new DecoderListener());
    this.backoff = new Backoff(options.reconnectInitialMs(), options.reconnectMaxMs());
  }

  @Override
  public Context context() {
    return driver.context();
  }

  @Override
  public String replyMatching() {
    ReplyMatching m = matching;
    return m == null ? null : m.label();
  }

  @Override
  public void refreshListener(RefreshListener listener) {
    this.refreshListener = listener;
  }

  @Override
  public void start() {
    if (view != null) {
      view.monitor().start();
    }
    connect();
  }

  /**
   * Gives the link the hypervisor's view of its guest: requests are answered at once while the
   * guest cannot take them, an agent that closes its port fails its request at once, and
   * shutdown and suspend are answered once QEMU shows the state reached.
   */
  public void watch(QmpMonitor qmp) {
    this.view = new HypervisorView(name(), qmp);
  }

  /** What the monitor reports, on the link's context. */
  public QmpMonitor.Listener hypervisorListener() {
    return new QmpMonitor.Listener() {
      @Override
      public void runState(String state) {
        onRunState(state);
      }

      @Override
      public void agentPort(boolean open) {
        onAgentPort(open);
      }
    };
  }

  @Override
  public String runState() {
    return view == null ? null : view.runState();
  }

  @Override
  public Future<JsonObject> wakeup(Deadline deadline) {
    return view == null ? super.wakeup(deadline) : view.wakeup();
  }

  @Override
  public Future<Void> stop() {
    LinkDriver.Wire w = wire;
    wire = null;
    setPhase(LinkPhase.CLOSED);
    cancelTimers();
    cancelTimer(reconnectTimer);
    cancelTimer(deadlineTimer);
    deadlineTimer = -1;
    GatewayFailure closed = Failures.of(Codes.NOT_CONNECTED, "the guest link was closed");
    if (inFlight != null) {
      finish(inFlight, closed);
    }
    if (manualSync != null) {
      finish(manualSync, closed);
    }
    failQueue(closed);
    if (w != null) {
      w.close();
    }
    Future<Void> qmpClosed = view == null ? Future.succeededFuture() : view.monitor().stop();
    return qmpClosed.transform(ar -> driver.close());
  }

  @Override
  public Future<JsonObject> execute(String command, JsonObject arguments, Deadline deadline,
                                    boolean successResponse) {
    String unavailable = unavailable();
    if (unavailable != null) {
      return Failures.fail(Codes.NOT_CONNECTED, unavailable);
    }
    GatewayFailure refused = view == null ? null : view.refusal(command);
    if (refused != null) {
      return Future.failedFuture(refused);
    }
    String tooBig = RequestLimits.structureProblem(arguments);
    Buffer frame = tooBig == null ? AgentRequests.command(command, arguments) : null;
    if (tooBig == null) {
      tooBig = RequestLimits.sizeProblem(frame.length());
    }
    if (tooBig != null) {
      return Future.failedFuture(Failures.of(Codes.BAD_REQUEST, command + ": " + tooBig));
    }
    LinkRequest.Command c = new LinkRequest.Command(command, frame, successResponse, deadline);
    if (view != null && !successResponse) {
      c.reaches = HypervisorView.reaches(command, arguments);
    }
    return enqueue(c);
  }

  /** Why the guest cannot take a command now, from the hypervisor's view; null when it can. */
  private String unavailable() {
    return view == null ? null : view.unavailable();
  }

  @Override
  public Future<JsonObject> resync(Deadline deadline) {
    String unavailable = unavailable();
    if (unavailable != null) {
      return Failures.fail(Codes.NOT_CONNECTED, unavailable);
    }
    return enqueue(new LinkRequest.Sync(deadline));
  }

  @Override
  public void refresh() {
    refresh(false);
  }

  /**
   * Asks the freeze state, then guest-info. A frozen agent reports most commands disabled, so
   * the info of a frozen guest never replaces what it can do when thawed.
   */
  private void refresh(boolean first) {
    if (phase == LinkPhase.CLOSED) {
      return;
    }
    LinkRequest.Command status = new LinkRequest.Command(FREEZE_STATUS, AgentRequests.command(FREEZE_STATUS, null), true,
        Deadline.in(options.infoTimeoutMs()));
    LinkRequest.Command info = new LinkRequest.Command(GUEST_INFO, AgentRequests.command(GUEST_INFO, null), true,
        Deadline.in(options.infoTimeoutMs()));
    if (first) {
      queue.addFirst(info);
      queue.addFirst(status);
    } else {
      queue.addLast(status);
      queue.addLast(info);
    }
    queued = queue.size();
    armDeadline(info.deadline.endNanos());
    Future<JsonObject> s = status.promise.future();
    Future<JsonObject> i = info.promise.future();
    Future.join(s, i).onComplete(ar -> refreshListener.refreshed(learned(s, i, observer)));
    pump();
  }

  private Future<JsonObject> enqueue(LinkRequest p) {
    if (phase == LinkPhase.CLOSED) {
      return Failures.fail(Codes.NOT_CONNECTED, "the guest link was closed");
    }
    if (queue.size() >= options.queueSize()) {
      return Failures.fail(Codes.BUSY, "the command queue of guest " + name() + " is full ("
          + options.queueSize() + ")");
    }
    armDeadline(p.deadline.endNanos());
    queue.addLast(p);
    queued = queue.size();
    pump();
    return p.promise.future();
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  private void connect() {
    reconnectTimer = -1;
    if (phase == LinkPhase.CLOSED) {
      return;
    }
    setPhase(LinkPhase.CONNECTING);
    driver.connect(target(), wireListener).onComplete(ar -> {
      if (phase == LinkPhase.CLOSED) {
        if (ar.succeeded()) {
          ar.result().close();
        }
        return;
      }
      if (ar.failed()) {
        lastError = "connect failed: " + ar.cause().getMessage();
        setPhase(LinkPhase.DISCONNECTED);
        scheduleReconnect();
        return;
      }
      onConnected(ar.result());
    });
  }

  private void onConnected(LinkDriver.Wire w) {
    wire = w;
    decoder.reset();
    matching = null;
    observer.connected(this);
    syncAttempts = 0;
    startSync(ResyncReason.CONNECT);
  }

  private void onClosed(LinkDriver.Wire w, String reason) {
    if (w != wire) {
      return;
    }
    wire = null;
    lastError = reason;
    matching = null;
    cancelTimers();
    probes.clear();
    // the phase first: completing a request runs its callbacks, which may queue the next
    LinkPhase was = phase;
    setPhase(LinkPhase.DISCONNECTED);
    LinkRequest.Command c = inFlight;
    if (c != null && was == LinkPhase.AWAITING_EVIDENCE) {
      // shutdown: QEMU exits when the VM powers off and no error came before: carried out
      finish(c, c.reaches == null ? SENT
          : new JsonObject().put("sent", true).put("reached", QmpMonitor.GONE));
    } else if (c != null) {
      finish(c, Failures.of(Codes.NOT_CONNECTED, "the agent connection closed before the reply"));
    }
    if (manualSync != null) {
      finish(manualSync, Failures.of(Codes.NOT_CONNECTED, "the agent connection closed"));
    }
    observer.disconnected(this, reason);
    scheduleReconnect();
  }

  /** Drops the connection on our side, e.g. after a sync that never completes. */
  private void dropConnection(String reason) {
    LinkDriver.Wire w = wire;
    if (w != null) {
      onClosed(w, reason);
      w.close();
    }
  }

  private void scheduleReconnect() {
    if (phase != LinkPhase.CLOSED) {
      reconnectTimer = driver.setTimer(backoff.next(), this::connect);
    }
  }

  // ---- sync -------------------------------------------------------------------------------------

  /** Enters SYNCING; callers that complete a request do so after this, never before. */
  private void startSync(ResyncReason reason) {
    if (wire == null) {
      return;
    }
    cancelTimers();
    // a full sync drops every answer before its own, the probes' too
    probes.clear();
    setPhase(LinkPhase.SYNCING);
    syncReason = reason;
    syncHeld = unavailable() != null;
    if (syncHeld) {
      // nobody would answer: sync when the guest runs and its agent is back
      return;
    }
    syncId = randomId();
    delimiterSeen = false;
    syncStartNanos = driver.nanoTime();
    wire.write(AgentRequests.syncDelimited(syncId, !idMemberRejected));
    syncTimer = driver.setTimer(options.syncTimeoutMs(), this::onSyncTimeout);
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

  private void onSyncingObject(JsonObject object, boolean delimited) {
    if (delimited && object.getValue("return") instanceof Number n && n.longValue() == syncId) {
      onSynced(object.getValue("id") instanceof Number id && id.longValue() == syncId
          ? ReplyMatching.ID : ReplyMatching.ORDER);
      return;
    }
    AgentReply reply = AgentReply.of(object);
    if (reply != null && reply.isError() && reply.error().desc().contains("'id'")
        && !idMemberRejected) {
      // an agent too old to accept an id member refused our sync: again without it
      idMemberRejected = true;
      observer.discarded(this, DiscardKind.STRAY_ERROR);
      startSync(syncReason);
      return;
    }
    observer.discarded(this, reply == null ? DiscardKind.GARBAGE
        : reply.isError() ? DiscardKind.STRAY_ERROR : DiscardKind.STALE_REPLY);
  }

  private void onSynced(ReplyMatching mode) {
    cancelTimer(syncTimer);
    syncTimer = -1;
    long nanos = driver.nanoTime() - syncStartNanos;
    syncAttempts = 0;
    backoff.reset();
    lastError = null;
    matching = mode;
    dirty = false;
    setPhase(LinkPhase.IDLE);
    observer.resynced(this, syncReason, nanos);
    // capabilities and freeze state go first after every sync, so checks see this agent's
    refresh(true);
    if (manualSync != null) {
      LinkRequest.Sync p = manualSync;
      manualSync = null;
      finish(p, new JsonObject().put("return", new JsonObject().put("rttMicros", nanos / 1000)));
    } else {
      pump();
    }
  }

  // ---- commands ---------------------------------------------------------------------------------

  private void pump() {
    if (phase == LinkPhase.RELEASED && !queue.isEmpty()) {
      connect();
      return;
    }
    if (phase != LinkPhase.IDLE || wire == null) {
      return;
    }
    if (dirty) {
      lastError = "a reply for no request";
      startSync(ResyncReason.PROTOCOL_ERROR);
      return;
    }
    LinkRequest p = queue.pollFirst();
    while (p != null && p.done()) {
      p = queue.pollFirst();
    }
    queued = queue.size();
    if (p == null) {
      armIdleRelease();
      return;
    }
    if (p instanceof LinkRequest.Sync s) {
      manualSync = s;
      startSync(ResyncReason.MANUAL);
      return;
    }
    LinkRequest.Command c = (LinkRequest.Command) p;
    inFlight = c;
    c.writtenNanos = driver.nanoTime();
    if (matching == ReplyMatching.ID) {
      c.id = randomId();
      wire.write(AgentRequests.withId(c.frame, c.id));
    } else {
      wire.write(c.frame);
    }
    if (c.successResponse) {
      setPhase(LinkPhase.AWAITING_REPLY);
      probeDelayMs = options.probeAfterMs();
      probeSoon();
    } else {
      setPhase(LinkPhase.AWAITING_EVIDENCE);
      writeProbe();
      // with the hypervisor's view, wait for the state itself, up to the deadline
      long left = Math.max(0, c.deadline.remainingMs() - 1);
      long window = c.reaches != null ? left : Math.min(options.noResponseGraceMs(), left);
      evidenceTimer = driver.setTimer(window, this::onEvidenceWindowEnd);
    }
  }

  /** Shared politely: release the socket when nothing was asked for a while. */
  private void armIdleRelease() {
    if (target().releaseIdleMs() > 0) {
      cancelTimer(idleTimer);
      idleTimer = driver.setTimer(target().releaseIdleMs(), this::onIdle);
    }
  }

  @Override
  public boolean released() {
    return phase == LinkPhase.RELEASED;
  }

  private void onIdle() {
    idleTimer = -1;
    LinkDriver.Wire w = wire;
    if (phase != LinkPhase.IDLE || !queue.isEmpty() || w == null) {
      return;
    }
    wire = null;
    probes.clear();
    matching = null;
    setPhase(LinkPhase.RELEASED);
    w.close();
  }

  /**
   * Makes sure the probe timer fires by the command in flight's probe time. Replies nearly
   * always come first, and the next command's probe time is later than the one armed: so one
   * timer per link serves every command (re-armed when it fires early), instead of a timer
   * set and cancelled for each.
   */
  private void probeSoon() {
    if (probeDelayMs <= 0) {
      return;
    }
    probeDueNanos = driver.nanoTime() + probeDelayMs * 1_000_000;
    if (probeTimer >= 0 && probeTimerAt - probeDueNanos <= 0) {
      return;
    }
    cancelTimer(probeTimer);
    armProbeTimer(probeDueNanos);
  }

  private void armProbeTimer(long at) {
    probeTimerAt = at;
    // rounded down, and due within a millisecond counts as due: never a millisecond late
    long delayMs = (at - driver.nanoTime()) / 1_000_000;
    probeTimer = driver.setTimer(Math.max(1, delayMs), this::onProbeTimer);
  }

  private void onProbeTimer() {
    probeTimer = -1;
    if (phase != LinkPhase.AWAITING_REPLY) {
      return;
    }
    if (probeDueNanos - driver.nanoTime() > 1_000_000) {
      armProbeTimer(probeDueNanos);
      return;
    }
    writeProbe();
    probeDelayMs = Math.min(probeDelayMs * 2, MAX_PROBE_INTERVAL_MS);
    probeSoon();
  }

  private void writeProbe() {
    LinkRequest.Probe probe = new LinkRequest.Probe(randomId(), inFlight);
    probes.addLast(probe);
    wire.write(AgentRequests.probe(probe.id()));
  }

  /** No error, no EOF, no answer to the sync behind it: the guest went down or to sleep. */
  private void onEvidenceWindowEnd() {
    evidenceTimer = -1;
    if (phase == LinkPhase.AWAITING_EVIDENCE) {
      LinkRequest.Command c = inFlight;
      startSync(ResyncReason.AFTER_NO_RESPONSE);
      finish(c, c.reaches == null ? SENT : Failures.of(Codes.TIMEOUT, c.command + " was sent,"
          + " but guest " + name() + " did not reach " + String.join(" or ", c.reaches)
          + " within " + c.deadline.timeoutMs() + " ms (it is " + runState() + ")"));
    }
  }

  private void onRunState(String state) {
    String previous = view.runStateChanged(state);
    boolean running = HypervisorView.running(state);
    LinkRequest.Command c = inFlight;
    if (phase == LinkPhase.AWAITING_EVIDENCE && c != null && c.reaches != null
        && c.reaches.contains(state)) {
      startSync(ResyncReason.AFTER_NO_RESPONSE);
      finish(c, new JsonObject().put("sent", true).put("reached", state));
      return;
    }
    if (running) {
      // woken, resumed: the agent's stream may hold anything; sync before the next command
      if (syncHeld && phase == LinkPhase.SYNCING) {
        startSync(syncReason);
      } else if (phase.ready() && previous != null) {
        startSync(ResyncReason.CONNECT);
      }
      return;
    }
    String why = "guest " + name() + " is " + state;
    failQueue(Failures.of(Codes.NOT_CONNECTED, why));
    if (HypervisorView.gone(state) && c != null && phase != LinkPhase.AWAITING_EVIDENCE) {
      lastError = why;
      startSync(ResyncReason.TIMEOUT);
      finish(c, Failures.of(Codes.NOT_CONNECTED, why));
    }
  }

  private void onAgentPort(boolean open) {
    boolean sawClose = view.agentPortChanged(open);
    if (open && sawClose) {
      if (syncHeld && phase == LinkPhase.SYNCING) {
        startSync(ResyncReason.CONNECT);
      }
      return;
    }
    // QEMU sends at most one VSERPORT_CHANGE a second per port and keeps only the last: an
    // "open" without the "close" before it is an agent that restarted within that second
    String why = open ? "the agent of " + name() + " restarted (its port closed and reopened)"
        : "the agent of " + name() + " closed its port (it stopped or restarted)";
    failQueue(Failures.of(Codes.NOT_CONNECTED, why));
    LinkRequest.Command c = inFlight;
    if (phase == LinkPhase.AWAITING_EVIDENCE) {
      // shutdown and hibernation close the port on the way down: the run state decides
      return;
    }
    lastError = why;
    startSync(ResyncReason.CONNECT);
    if (c != null) {
      finish(c, Failures.of(Codes.NOT_CONNECTED, why));
    }
  }

  /** A delimited return outside a full sync: the answer to a probe. */
  private void onProbeAnswer(JsonObject object) {
    LinkRequest.Probe probe = null;
    if (object.getValue("return") instanceof Number n) {
      for (LinkRequest.Probe p : probes) {
        if (p.id() == n.longValue()) {
          probe = p;
          break;
        }
      }
    }
    if (probe == null) {
      observer.discarded(this, DiscardKind.STALE_REPLY);
      dirty = true;
      return;
    }
    // the agent answers in order: probes before this one will not be answered any more
    while (probes.pollFirst() != probe) {
      // dropped
    }
    LinkRequest.Command c = inFlight;
    if (c == null || probe.command() != c) {
      return;
    }
    if (phase == LinkPhase.AWAITING_EVIDENCE && c.reaches != null) {
      // carried out without error; QEMU will show the state (the window ends at the deadline)
      return;
    } else if (phase == LinkPhase.AWAITING_EVIDENCE) {
      cancelTimer(evidenceTimer);
      evidenceTimer = -1;
      setPhase(LinkPhase.IDLE);
      // the probe was the resync the contract asks for after such a command
      observer.resynced(this, ResyncReason.AFTER_NO_RESPONSE, driver.nanoTime() - c.writtenNanos);
      finish(c, SENT);
    } else if (phase == LinkPhase.AWAITING_REPLY) {
      // the agent answered a sync written after the command, and not the command: it lost it
      lastError = "the agent dropped " + c.command + " (it restarted or died holding it)";
      log.warn("guest " + name() + ": " + lastError);
      startSync(ResyncReason.TIMEOUT);
      finish(c, Failures.of(Codes.NOT_CONNECTED, lastError));
    }
  }

  private void onReply(JsonObject object) {
    LinkRequest.Command c = inFlight;
    AgentReply reply = AgentReply.of(object);
    if (c == null) {
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
    if (matching == ReplyMatching.ID) {
      Object id = object.getValue("id");
      if (id == null && reply.isError()) {
        // the agent could not read a request of ours as one object
        parseError(c, reply.error());
        return;
      }
      if (!(id instanceof Number n) || n.longValue() != c.id) {
        // an earlier request's answer: not this one's; resync once this one is done
        observer.discarded(this, DiscardKind.STALE_REPLY);
        dirty = true;
        return;
      }
    } else if (reply.isError() && reply.error().parseError()) {
      parseError(c, reply.error());
      return;
    }
    cancelPhaseTimers();
    setPhase(LinkPhase.IDLE);
    if (reply.isError()) {
      finish(c, failure(reply.error()));
    } else if (c.successResponse) {
      finish(c, new JsonObject().put("return", reply.returnValue()));
    } else {
      // a return for a command that has none: carried out, but resync to be sure of the stream
      startSync(ResyncReason.AFTER_NO_RESPONSE);
      finish(c, SENT);
    }
  }

  private void parseError(LinkRequest.Command c, AgentError error) {
    lastError = "the agent could not parse " + c.command + ": " + error.desc();
    startSync(ResyncReason.PROTOCOL_ERROR);
    finish(c, Failures.agent(Codes.AGENT_ERROR, error.errorClass(), error.desc()));
  }

  /** The contract's code for an agent error: frozen 423, unsupported or disabled 501, else 502. */
  static GatewayFailure failure(AgentError error) {
    int code = error.frozen() ? Codes.FROZEN
        : error.unsupported() ? Codes.UNSUPPORTED : Codes.AGENT_ERROR;
    return Failures.agent(code, error.errorClass(), error.desc());
  }

  private void protocolError(String detail) {
    lastError = "protocol error: " + detail;
    LinkRequest.Command c = inFlight;
    startSync(ResyncReason.PROTOCOL_ERROR);
    if (c != null) {
      finish(c, Failures.of(Codes.AGENT_ERROR, "ProtocolError: " + detail));
    }
  }

  // ---- deadlines --------------------------------------------------------------------------------

  /**
   * Makes sure the deadline timer fires by {@code deadline}. Requests come with deadlines later
   * than the one armed nearly always, so most need no timer of their own: one timer per link,
   * re-armed when it fires, instead of a timer set and cancelled for every command.
   */
  private void armDeadline(long deadline) {
    if (deadlineTimer >= 0 && deadlineTimerAt - deadline <= 0) {
      return;
    }
    cancelTimer(deadlineTimer);
    deadlineTimerAt = deadline;
    long delayMs = (deadline - driver.nanoTime() + 999_999) / 1_000_000;
    deadlineTimer = driver.setTimer(Math.max(1, delayMs), this::onDeadlineTimer);
  }

  /** Expires what is due, then re-arms for the earliest request still waiting. */
  private void onDeadlineTimer() {
    deadlineTimer = -1;
    long now = driver.nanoTime();
    List<LinkRequest> due = new ArrayList<>();
    for (LinkRequest p : waiting()) {
      if (p.deadline.endNanos() - now <= 0) {
        due.add(p);
      }
    }
    due.forEach(this::expire);
    List<LinkRequest> left = waiting();
    if (!left.isEmpty()) {
      long earliest = left.get(0).deadline.endNanos();
      for (LinkRequest p : left) {
        earliest = p.deadline.endNanos() - earliest < 0 ? p.deadline.endNanos() : earliest;
      }
      armDeadline(earliest);
    }
  }

  /** Every request not completed yet: in flight, a manual sync, the queue. */
  private List<LinkRequest> waiting() {
    List<LinkRequest> out = new ArrayList<>(queue.size() + 2);
    if (inFlight != null) {
      out.add(inFlight);
    }
    if (manualSync != null) {
      out.add(manualSync);
    }
    out.addAll(queue);
    out.removeIf(p -> p.done());
    return out;
  }

  private void expire(LinkRequest p) {
    if (p.done()) {
      return;
    }
    long timeoutMs = p.deadline.timeoutMs();
    if (p == inFlight && phase == LinkPhase.AWAITING_EVIDENCE) {
      startSync(ResyncReason.AFTER_NO_RESPONSE);
      finish(p, SENT);
    } else if (p == inFlight) {
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
      p.promise.fail(phase.ready()
          ? Failures.of(Codes.TIMEOUT, "still queued behind other commands of " + name()
              + " after " + timeoutMs + " ms")
          : Failures.of(Codes.NOT_CONNECTED, "the agent of " + name() + " is not connected ("
              + (lastError == null ? state().label() : lastError) + ")"));
    }
  }

  // ---- completion -------------------------------------------------------------------------------

  /**
   * Completes a request. Its handlers run right here and may queue (and so write) the next
   * command: callers that resync must enter SYNCING before calling this.
   */
  private void finish(LinkRequest p, Object outcome) {
    if (p == inFlight) {
      inFlight = null;
    }
    if (outcome instanceof JsonObject result) {
      p.promise.tryComplete(result);
    } else {
      p.promise.tryFail((Throwable) outcome);
    }
    pump();
  }

  private void failQueue(Throwable failure) {
    for (Iterator<LinkRequest> it = queue.iterator(); it.hasNext(); ) {
      LinkRequest p = it.next();
      it.remove();
      p.promise.tryFail(failure);
    }
    queued = 0;
  }

  private void setPhase(LinkPhase next) {
    // a stopped link stays stopped
    if (phase == LinkPhase.CLOSED) {
      return;
    }
    phase = next;
    setState(next.state());
  }


  /** The timers of one phase: sync, probe, evidence, idle. Probes written stay expected. */
  private void cancelTimers() {
    cancelPhaseTimers();
    cancelTimer(probeTimer);
    probeTimer = -1;
  }

  /** As {@link #cancelTimers} but the probe timer, which a reply leaves for the next command. */
  private void cancelPhaseTimers() {
    cancelTimer(idleTimer);
    idleTimer = -1;
    cancelTimer(syncTimer);
    cancelTimer(evidenceTimer);
    syncTimer = -1;
    evidenceTimer = -1;
  }

  private void cancelTimer(long id) {
    if (id >= 0) {
      driver.cancelTimer(id);
    }
  }

  /** 63 bits: positive, so it survives any JSON number handling on either side; unguessable. */
  private static long randomId() {
    return ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE;
  }

  private final class WireEvents implements LinkDriver.WireListener {
    @Override
    public void bytes(LinkDriver.Wire w, Buffer chunk) {
      if (w == wire) {
        decoder.feed(chunk);
      }
    }

    @Override
    public void closed(LinkDriver.Wire w, String reason) {
      onClosed(w, reason);
    }
  }

  private final class DecoderListener implements FrameDecoder.Listener {
    @Override
    public void onObject(JsonObject object, int size) {
      boolean delimited = delimiterSeen;
      delimiterSeen = false;
      if (phase == LinkPhase.SYNCING) {
        onSyncingObject(object, delimited);
      } else if (phase.ready()) {
        if (delimited) {
          onProbeAnswer(object);
        } else {
          onReply(object);
        }
      }
    }

    @Override
    public void onDelimiter() {
      if (phase == LinkPhase.SYNCING || phase.ready() && !probes.isEmpty()) {
        delimiterSeen = true;
      } else if (phase.ready()) {
        protocolError("unexpected 0xFF outside a sync");
      }
    }

    @Override
    public void onError(FrameError error, String detail) {
      observer.discarded(GuestLink.this,
          error == FrameError.OVERSIZED ? DiscardKind.OVERSIZED : DiscardKind.GARBAGE);
      if (phase.ready()) {
        protocolError(detail);
      }
    }
  }
}
