package io.qgagateway.libvirt;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.libvirt.Hypervisor.DomainState;
import io.qgagateway.libvirt.Hypervisor.SuspendTarget;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.ChannelStatus;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkObserver;
import io.qgagateway.link.LinkOptions;
import io.qgagateway.link.LinkState;
import io.qgagateway.link.ResyncReason;
import io.qgagateway.protocol.RequestLimits;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * One libvirt domain's agent, through libvirt: libvirtd owns the channel and the gateway asks
 * it per call ({@code virDomainQemuAgentCommand}), so {@code virsh qemu-agent-command} and
 * everything else that uses libvirt keeps working beside the gateway.
 *
 * <p>The domain's state and its agent's (from libvirt's events, via {@link LibvirtHost}) decide
 * at once whether a command can go: a guest that is shut off, paused, suspended, or whose agent
 * is not connected gets 503 with the reason, without waiting for a timeout. Calls run one at a
 * time per guest on libvirt's pool ({@link LibvirtHost#calls()}): the guest's queue is guarded
 * by a lock, so a plain command enters it from whichever event loop received it, runs on a pool
 * thread and is answered from there (docs/ARCHITECTURE.md, "Threads"); each request is answered
 * at its deadline at the latest (504), while libvirt's own wait (its timeout, in whole seconds)
 * ends soon after.
 *
 * <p>Shutdown, reboot and suspend go through libvirt's own APIs (which wait for QEMU's event and
 * check that a suspended guest can be woken), and their reply says whether the guest reached the
 * state within a bounded wait. Call everything but the getters and {@link #executeForCaller} on
 * {@link #context()}.
 */
public final class LibvirtChannel extends ChannelStatus {

  static final String GUEST_INFO = "guest-info";
  static final String FREEZE_STATUS = "guest-fsfreeze-status";
  /** What a reached-state wait leaves of the deadline, so the reply is still in time. */
  private static final long REPLY_MARGIN_MS = 50;
  /** 64 KiB per guest-file-write: about 87 kB of base64 in one request. */
  static final int MAX_WRITE_BYTES = 64 * 1024;

  private final Vertx vertx;
  private final Context context;
  private final LibvirtHost host;
  private final Hypervisor hypervisor;
  private final String uuid;
  private final LinkObserver observer;
  private final LinkOptions link;
  private final java.util.concurrent.Executor calls;
  // the calls waiting and the one libvirt is making: guarded by this, any thread
  private final ArrayDeque<Call> queue = new ArrayDeque<>();
  private Call inFlight;
  private final List<Waiter> waiters = new ArrayList<>();
  private volatile boolean closed;
  private boolean usable;
  private boolean infoLoaded;
  private int reboots;
  private RefreshListener refreshListener = status -> { };

  private volatile DomainView view;

  LibvirtChannel(Vertx vertx, LibvirtHost host, GuestTarget target, LinkObserver observer,
                 LinkOptions link) {
    super(target, LinkState.CONNECTING, "waiting for libvirt's view of the domain");
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.host = host;
    this.hypervisor = host.hypervisor();
    this.calls = host.calls();
    this.uuid = target.domainUuid();
    this.observer = observer;
    this.link = link;
  }

  @Override
  public Context context() {
    return context;
  }


  @Override
  public String runState() {
    DomainView v = view;
    return v == null ? null : runState(v.state());
  }

  /** libvirt's domain state in the words of {@code runState} (API.md), as QMP backends say it. */
  static String runState(DomainState state) {
    return switch (state) {
      case RUNNING, BLOCKED -> "running";
      case PAUSED -> "paused";
      case PMSUSPENDED -> "suspended";
      case SHUTDOWN -> "shutdown";
      case SHUTOFF -> "shutoff";
      case CRASHED -> "crashed";
      case NOSTATE -> null;
    };
  }

  /**
   * Through libvirt, a guest-file-write of about 250 kB of base64 got no answer on libvirt 9.0
   * with QEMU 7.2 and left the agent's parser mid-request; 140 kB worked: stay well below.
   */
  @Override
  public int maxWriteBytes() {
    return MAX_WRITE_BYTES;
  }

  @Override
  public void refreshListener(RefreshListener listener) {
    this.refreshListener = listener;
  }

  @Override
  public void start() {
    host.attach(this);
  }

  @Override
  public Future<Void> stop() {
    closed = true;
    host.detach(this);
    GatewayFailure failure = Failures.of(Codes.NOT_CONNECTED, "the guest link was closed");
    failQueue(failure);
    Call running;
    synchronized (this) {
      running = inFlight;
    }
    if (running != null) {
      running.promise.tryFail(failure);
    }
    for (Waiter w : new ArrayList<>(waiters)) {
      w.finish(false);
    }
    return Future.succeededFuture();
  }

  // ---- domain and agent state ----------------------------------------------------------------

  /** libvirt's newest view of the domain; on this context. */
  void update(DomainView next) {
    if (closed) {
      return;
    }
    view = next;
    String why = next.unavailable(host.uri());
    boolean was = usable;
    usable = why == null;
    if (usable && !was) {
      lastError = null;
      infoLoaded = false;
      setState(LinkState.SYNCING);
      observer.connected(this);
      refresh(true);
    } else if (!usable) {
      lastError = why;
      infoLoaded = false;
      setState(next.connectionUp() ? LinkState.DISCONNECTED : LinkState.CONNECTING);
      if (was) {
        observer.disconnected(this, why);
      }
      // nothing waiting can be served now: say why at once, not at the deadline
      failQueue(Failures.of(Codes.NOT_CONNECTED, why));
    }
    checkWaiters();
  }

  /** libvirt reported a reboot of the guest. */
  void rebooted() {
    reboots++;
    checkWaiters();
  }

  private String unavailable() {
    DomainView v = view;
    return v == null ? "libvirt has not described domain " + target().name() + " yet"
        : v.unavailable(host.uri());
  }

  // ---- commands ------------------------------------------------------------------------------

  @Override
  public Future<JsonObject> execute(String command, JsonObject arguments, Deadline deadline,
                                    boolean successResponse) {
    return execute(command, arguments, deadline, successResponse, false);
  }

  /**
   * The reply of a plain command is completed on the libvirt pool's thread that got it, so it
   * goes to the caller without a hand-off back to this guest's context; the queue moves on
   * there right after.
   */
  @Override
  public Future<JsonObject> executeForCaller(String command, JsonObject arguments,
                                             Deadline deadline, boolean successResponse) {
    return execute(command, arguments, deadline, successResponse, successResponse);
  }

  private Future<JsonObject> execute(String command, JsonObject arguments, Deadline deadline,
                                     boolean successResponse, boolean direct) {
    // what the agent's parser would split is refused as on the socket backend: libvirt passes
    // the request on as it is
    String tooBig = RequestLimits.structureProblem(arguments);
    String json = request(command, arguments);
    if (tooBig == null) {
      // a UTF-16 char is at most 3 bytes of UTF-8 (a surrogate pair, two chars, is 4)
      int bytes = json.length() * 3L < RequestLimits.MAX_BYTES ? json.length()
          : json.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
      tooBig = RequestLimits.sizeProblem(bytes);
    }
    if (tooBig != null) {
      return Failures.fail(Codes.BAD_REQUEST, command + ": " + tooBig);
    }
    if (!successResponse) {
      return noResponse(command, arguments, json, deadline);
    }
    return enqueue(agentCall(command, json, deadline, direct), false);
  }

  /** A plain agent command: its reply, or the agent's error. */
  private Call agentCall(String command, String json, Deadline deadline, boolean direct) {
    Call c = new Call(command, deadline, direct);
    int seconds = libvirtTimeout(deadline);
    c.op = () -> {
      String reply = hypervisor.agentCommand(uuid, json, seconds);
      try {
        return new JsonObject().put("return", new JsonObject(reply).getValue("return"));
      } catch (DecodeException e) {
        throw Failures.of(Codes.AGENT_ERROR, "ProtocolError: libvirt returned no JSON");
      }
    };
    return c;
  }

  /**
   * libvirt's view of this channel's calls: {@link #executeForCaller} may be called on any event
   * loop, since the calls queue here under a lock and run on libvirt's pool, which answers the
   * caller itself; no hand-off to this guest's context on the way in or out.
   */
  @Override
  public boolean callsFromAnyLoop() {
    return true;
  }

  @Override
  public Future<JsonObject> resync(Deadline deadline) {
    long start = System.nanoTime();
    Call c = agentCall("guest-ping", request("guest-ping", null), deadline, false);
    c.then = outcome -> {
      if (outcome instanceof JsonObject) {
        long nanos = System.nanoTime() - start;
        observer.resynced(this, ResyncReason.MANUAL, nanos);
        complete(c, new JsonObject().put("return",
            new JsonObject().put("rttMicros", nanos / 1000)));
        refresh(false);
      } else {
        complete(c, outcome);
      }
    };
    return enqueue(c, false);
  }

  /**
   * Wakes a suspended guest, then waits (within the deadline) until its agent is back and the
   * channel has resynced (capabilities and freeze state read again), so the next command finds
   * it ready.
   */
  @Override
  public Future<JsonObject> wakeup(Deadline deadline) {
    Call c = new Call("wakeup", deadline, false);
    c.anyState = true;
    c.op = () -> {
      DomainView v = view;
      if (v == null || !v.connectionUp()) {
        throw Failures.of(Codes.NOT_CONNECTED, "cannot wake " + name() + ": " + unavailable());
      }
      if (v.state() != DomainState.PMSUSPENDED) {
        throw Failures.of(Codes.BAD_REQUEST, "guest " + name() + " is " + runState()
            + ", not suspended");
      }
      hypervisor.wakeup(uuid);
      return null;
    };
    Waiter waiter = new Waiter(ch -> ch.state() == LinkState.READY);
    c.then = outcome -> awaitState(c, outcome, waiter, done ->
        // woken either way; "agent" says whether the next command finds it resynced
        new JsonObject().put("return", new JsonObject().put("state", "woken")
            .put("agent", done ? "ready" : state().label())));
    return enqueueWaiting(c, waiter);
  }

  @Override
  public void refresh() {
    refresh(false);
  }

  /** The freeze state, then guest-info; a frozen agent's info never replaces the thawed one's. */
  private void refresh(boolean first) {
    if (closed || !usable) {
      return;
    }
    long start = System.nanoTime();
    Call status = agentCall(FREEZE_STATUS, request(FREEZE_STATUS, null),
        Deadline.in(link.infoTimeoutMs()), false);
    Call info = agentCall(GUEST_INFO, request(GUEST_INFO, null),
        Deadline.in(link.infoTimeoutMs()), false);
    // the freeze state first; after a (re)connect, before anything already waiting
    List<Future<JsonObject>> replies = enqueue(first, status, info);
    Future<JsonObject> s = replies.get(0);
    Future<JsonObject> i = replies.get(1);
    Future.join(s, i).onComplete(ar -> {
      refreshListener.refreshed(learned(s, i, observer));
      if (first && usable && !infoLoaded && !closed) {
        infoLoaded = true;
        setState(LinkState.READY);
        observer.resynced(this, ResyncReason.CONNECT, System.nanoTime() - start);
        checkWaiters();
      }
    });
  }

  /**
   * Shutdown, reboot and suspend: libvirt's APIs send the agent command and return once QEMU
   * reported the guest going down or to sleep (or the agent left); then the reply waits, within
   * the request's deadline, for the domain to reach the state ({@code {"sent": true, "reached":
   * STATE}}); 504 when it does not.
   */
  private Future<JsonObject> noResponse(String command, JsonObject arguments, String json,
                                        Deadline deadline) {
    Call c = new Call(command, deadline, false);
    Predicate<LibvirtChannel> reached;
    String goal;
    // with the hypervisor's view the reply waits for the state itself, up to the deadline
    switch (command) {
      case "guest-shutdown" -> {
        String mode = arguments == null ? null : arguments.getString("mode");
        if ("reboot".equals(mode)) {
          int before = reboots;
          c.op = () -> {
            hypervisor.rebootByAgent(uuid);
            return null;
          };
          reached = ch -> ch.reboots > before;
          goal = "rebooted";
        } else if ("halt".equals(mode)) {
          // libvirt has no halt: the command itself, and no reply is the expected outcome
          c.op = sendExpectingNoReply(json, deadline);
          reached = ch -> ch.stateIs(DomainState.SHUTDOWN, DomainState.SHUTOFF);
          goal = "shutdown or shutoff";
        } else {
          c.op = () -> {
            hypervisor.shutdownByAgent(uuid);
            return null;
          };
          reached = ch -> ch.stateIs(DomainState.SHUTDOWN, DomainState.SHUTOFF);
          goal = "shutdown or shutoff";
        }
      }
      case "guest-suspend-ram", "guest-suspend-hybrid", "guest-suspend-disk" -> {
        SuspendTarget t = switch (command) {
          case "guest-suspend-ram" -> SuspendTarget.MEM;
          case "guest-suspend-hybrid" -> SuspendTarget.HYBRID;
          default -> SuspendTarget.DISK;
        };
        c.op = () -> {
          hypervisor.suspend(uuid, t);
          return null;
        };
        reached = t == SuspendTarget.DISK
            ? ch -> ch.stateIs(DomainState.SHUTOFF)
            : ch -> ch.stateIs(DomainState.PMSUSPENDED);
        goal = t == SuspendTarget.DISK ? "shutoff" : "suspended";
      }
      default -> {
        c.op = sendExpectingNoReply(json, deadline);
        c.then = outcome -> complete(c, outcome instanceof Throwable ? outcome
            : new JsonObject().put("sent", true));
        return enqueue(c, false);
      }
    }
    Waiter waiter = new Waiter(reached);
    c.then = outcome -> awaitState(c, outcome, waiter, done -> {
      if (!done) {
        return Failures.of(Codes.TIMEOUT, command + " was sent, but guest " + name()
            + " did not reach " + goal + " within " + deadline.timeoutMs() + " ms (it is "
            + runState() + ")");
      }
      return new JsonObject().put("sent", true).put("reached",
          "rebooted".equals(goal) ? goal : runState());
    });
    return enqueueWaiting(c, waiter);
  }

  /** An agent command whose success sends no reply: libvirt's timeout is the expected end. */
  private Callable<Object> sendExpectingNoReply(String json, Deadline deadline) {
    int seconds = (int) Math.max(1, Math.min(libvirtTimeout(deadline),
        Math.max(1, link.noResponseGraceMs() / 1000)));
    return () -> {
      try {
        hypervisor.agentCommand(uuid, json, seconds);
      } catch (HypervisorException e) {
        boolean gone = e.code() == HypervisorException.AGENT_UNRESPONSIVE
            && (e.getMessage().contains("not available for now")
            || e.getMessage().contains("disappeared"));
        if (!gone) {
          throw e;
        }
      }
      return null;
    };
  }

  /** A call whose reply waits for a state: the waiter listens from before the call is made. */
  private Future<JsonObject> enqueueWaiting(Call c, Waiter waiter) {
    waiters.add(waiter);
    Future<JsonObject> f = enqueue(c, false);
    // refused, expired or failed before its turn: nothing to wait for
    f.onFailure(e -> waiter.finish(false));
    return f;
  }

  /**
   * After libvirt's call returned (the guest's queue has moved on already): a failure is the
   * reply; else the reply waits, within the deadline, for the waiter's state.
   */
  private void awaitState(Call c, Object outcome, Waiter waiter,
                          java.util.function.Function<Boolean, Object> reply) {
    if (outcome instanceof Throwable) {
      complete(c, outcome);
      return;
    }
    long waitMs = Math.max(0, c.deadline.remainingMs() - REPLY_MARGIN_MS);
    waiter.await(waitMs).onComplete(done -> complete(c, reply.apply(done.result())));
  }

  private boolean stateIs(DomainState... states) {
    DomainView v = view;
    if (v == null) {
      return false;
    }
    for (DomainState s : states) {
      if (v.state() == s) {
        return true;
      }
    }
    return false;
  }

  // ---- the guest's calls, one at a time ----------------------------------------------------

  /**
   * Queues a call (any thread for a direct one, this context for the others) and arms its
   * deadline on the caller's context, so a call's timeout completes it where its caller is.
   */
  private Future<JsonObject> enqueue(Call c, boolean first) {
    return enqueue(first, c).get(0);
  }

  /** Queues calls together, in this order, at the tail or (first) the head of the queue. */
  private List<Future<JsonObject>> enqueue(boolean first, Call... batch) {
    List<Future<JsonObject>> out = new ArrayList<>(batch.length);
    List<Call> accepted = new ArrayList<>(batch.length);
    for (Call c : batch) {
      Future<JsonObject> refused = refusal(c);
      out.add(refused != null ? refused : c.promise.future());
      if (refused == null) {
        accepted.add(c);
      }
    }
    synchronized (this) {
      for (int i = 0; i < accepted.size(); i++) {
        Call c = accepted.get(first ? accepted.size() - 1 - i : i);
        if (queue.size() >= link.queueSize()) {
          c.promise.fail(Failures.of(Codes.BUSY, "the command queue of guest " + name()
              + " is full (" + link.queueSize() + ")"));
          continue;
        }
        long delay = Math.max(1,
            TimeUnit.NANOSECONDS.toMillis(c.deadline.remainingNanos() + 999_999));
        c.timer = vertx.setTimer(delay, id -> expire(c));
        if (first) {
          queue.addFirst(c);
        } else {
          queue.addLast(c);
        }
      }
      queued = queue.size();
    }
    Call run = next();
    if (run != null) {
      calls.execute(() -> run(run));
    }
    return out;
  }

  /** Why a call cannot be queued now, as its failed reply; null when it can. */
  private Future<JsonObject> refusal(Call c) {
    if (closed) {
      return Failures.fail(Codes.NOT_CONNECTED, "the guest link was closed");
    }
    if (!c.anyState) {
      String why = unavailable();
      if (why != null) {
        return Failures.fail(Codes.NOT_CONNECTED, why);
      }
    }
    return null;
  }

  /**
   * The next call to make when none is in flight, now in flight; null when one is, or none
   * waits. Calls answered meanwhile are dropped; those that cannot go now are refused.
   */
  private Call next() {
    List<Call> refused = new ArrayList<>(0);
    List<String> reasons = new ArrayList<>(0);
    Call picked = null;
    synchronized (this) {
      while (picked == null && inFlight == null && !closed) {
        Call c = queue.pollFirst();
        queued = queue.size();
        if (c == null) {
          break;
        }
        if (c.promise.future().isComplete()) {
          continue;
        }
        String why = c.anyState ? null : unavailable();
        if (why != null) {
          refused.add(c);
          reasons.add(why);
          continue;
        }
        inFlight = c;
        picked = c;
      }
    }
    // answered outside the lock: a caller's continuation runs with the guest's queue free
    for (int i = 0; i < refused.size(); i++) {
      outcome(refused.get(i), Failures.of(Codes.NOT_CONNECTED, reasons.get(i)));
    }
    return picked;
  }

  /**
   * On libvirt's pool: makes the call, releases the guest's queue, hands the outcome on (to the
   * caller here for a direct call, else to this context), and goes on with the next call on the
   * same thread.
   */
  private void run(Call first) {
    Call c = first;
    while (c != null) {
      Object outcome;
      try {
        outcome = c.op.call();
      } catch (HypervisorException e) {
        outcome = LibvirtFailures.of(e, name(), c.deadline.timeoutMs());
      } catch (GatewayFailure e) {
        outcome = e;
      } catch (Exception e) {
        outcome = Failures.of(Codes.NOT_CONNECTED, "libvirt call failed: " + e);
      }
      synchronized (this) {
        if (inFlight == c) {
          inFlight = null;
        }
      }
      outcome(c, outcome);
      c = next();
    }
  }

  /** Hands a call's outcome to its continuation, on the caller's thread or this context. */
  private void outcome(Call c, Object outcome) {
    if (c.direct) {
      c.then.accept(outcome);
    } else {
      context.runOnContext(x -> c.then.accept(outcome));
    }
  }

  private void complete(Call c, Object outcome) {
    cancelTimer(c);
    if (outcome instanceof JsonObject result) {
      c.promise.tryComplete(result);
    } else {
      c.promise.tryFail((Throwable) outcome);
    }
  }

  private void expire(Call c) {
    c.timer = -1;
    if (c.promise.future().isComplete()) {
      return;
    }
    long timeoutMs = c.deadline.timeoutMs();
    boolean wasQueued;
    boolean running;
    synchronized (this) {
      running = c == inFlight;
      wasQueued = queue.remove(c);
      queued = queue.size();
    }
    if (running) {
      // libvirt goes on waiting for its own timeout; this guest's next call waits for that
      c.promise.tryFail(Failures.of(Codes.TIMEOUT, "no reply from the agent of " + name()
          + " within " + timeoutMs + " ms"));
    } else if (wasQueued) {
      c.promise.tryFail(Failures.of(Codes.TIMEOUT, "still queued behind other commands of "
          + name() + " after " + timeoutMs + " ms"));
    } else {
      // waiting for a reached state: answered by its waiter within the deadline
      c.promise.tryFail(Failures.of(Codes.TIMEOUT, c.command + " on " + name()
          + " did not finish within " + timeoutMs + " ms"));
    }
  }

  private void cancelTimer(Call c) {
    long timer = c.timer;
    if (timer >= 0) {
      c.timer = -1;
      vertx.cancelTimer(timer);
    }
  }

  private void failQueue(Throwable failure) {
    List<Call> failed;
    synchronized (this) {
      failed = new ArrayList<>(queue);
      queue.clear();
      queued = 0;
    }
    for (Call c : failed) {
      cancelTimer(c);
      c.promise.tryFail(failure);
    }
  }

  private void checkWaiters() {
    for (Waiter w : new ArrayList<>(waiters)) {
      if (w.reached.test(this)) {
        w.finish(true);
      }
    }
  }

  static String request(String command, JsonObject arguments) {
    JsonObject request = new JsonObject().put("execute", command);
    if (arguments != null && !arguments.isEmpty()) {
      request.put("arguments", arguments);
    }
    return request.encode();
  }

  /** libvirt waits in whole seconds: the deadline rounded up, so ours fires first. */
  static int libvirtTimeout(Deadline deadline) {
    long ms = deadline.remainingMs();
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (ms + 999) / 1000));
  }

  /** One libvirt call of this guest and what follows it. */
  private final class Call {
    final String command;
    final Deadline deadline;
    final Promise<JsonObject> promise = Promise.promise();
    // completed on libvirt's pool, for a caller whose continuations are thread-safe
    final boolean direct;
    volatile long timer = -1;
    // the blocking call, on libvirt's pool: the reply (or null), or throws
    Callable<Object> op;
    // what the outcome (a reply or a Throwable) becomes; on the pool when direct, else on the
    // guest's context
    java.util.function.Consumer<Object> then = outcome -> complete(this, outcome);
    // goes even when the domain cannot take agent commands (wake-up)
    boolean anyState;

    Call(String command, Deadline deadline, boolean direct) {
      this.command = command;
      this.deadline = deadline;
      this.direct = direct;
    }
  }

  /** Waits for the domain (as libvirt reports it) to satisfy a condition. */
  private final class Waiter {
    final Predicate<LibvirtChannel> reached;
    final Promise<Boolean> outcome = Promise.promise();
    long timer = -1;

    Waiter(Predicate<LibvirtChannel> reached) {
      this.reached = reached;
    }

    Future<Boolean> await(long ms) {
      if (reached.test(LibvirtChannel.this)) {
        finish(true);
      } else if (!outcome.future().isComplete()) {
        timer = vertx.setTimer(Math.max(1, ms), id -> finish(false));
      }
      return outcome.future();
    }

    void finish(boolean ok) {
      waiters.remove(this);
      if (timer >= 0) {
        vertx.cancelTimer(timer);
        timer = -1;
      }
      outcome.tryComplete(ok);
    }
  }

  @Override
  public String toString() {
    return "LibvirtChannel[" + target().name() + " " + uuid + "]";
  }
}
