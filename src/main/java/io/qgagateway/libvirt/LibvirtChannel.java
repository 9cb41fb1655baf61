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
import java.util.Iterator;
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
 * time per guest on libvirt's worker pool; each request is answered at its deadline at the latest
 * (504), while libvirt's own wait (its timeout, in whole seconds) ends soon after.
 *
 * <p>Shutdown, reboot and suspend go through libvirt's own APIs (which wait for QEMU's event and
 * check that a suspended guest can be woken), and their reply says whether the guest reached the
 * state within a bounded wait. Call everything but the getters on {@link #context()}.
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
  private final ArrayDeque<Call> queue = new ArrayDeque<>();
  private final List<Waiter> waiters = new ArrayList<>();
  private Call inFlight;
  private boolean closed;
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
    if (inFlight != null) {
      inFlight.promise.tryFail(failure);
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
    Kind kind = successResponse ? Kind.AGENT : Kind.NO_RESPONSE;
    Call c = new Call(kind, command, arguments, deadline);
    c.json = json;
    c.direct = direct;
    return enqueue(c, false);
  }

  @Override
  public Future<JsonObject> resync(Deadline deadline) {
    return enqueue(new Call(Kind.PING, "guest-ping", null, deadline), false);
  }

  @Override
  public Future<JsonObject> wakeup(Deadline deadline) {
    return enqueue(new Call(Kind.WAKEUP, "wakeup", null, deadline), false);
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
    Call status = new Call(Kind.AGENT, FREEZE_STATUS, null, Deadline.in(link.infoTimeoutMs()));
    Call info = new Call(Kind.AGENT, GUEST_INFO, null, Deadline.in(link.infoTimeoutMs()));
    Future<JsonObject> s = status.promise.future();
    Future<JsonObject> i = info.promise.future();
    if (first) {
      // capabilities and freeze state before anything already waiting
      schedule(info, true);
      schedule(status, true);
    } else {
      schedule(status, false);
      schedule(info, false);
    }
    pump();
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

  private Future<JsonObject> enqueue(Call c, boolean first) {
    if (closed) {
      return Failures.fail(Codes.NOT_CONNECTED, "the guest link was closed");
    }
    if (c.kind != Kind.WAKEUP) {
      String why = unavailable();
      if (why != null) {
        return Failures.fail(Codes.NOT_CONNECTED, why);
      }
    }
    if (queue.size() >= link.queueSize()) {
      return Failures.fail(Codes.BUSY, "the command queue of guest " + name() + " is full ("
          + link.queueSize() + ")");
    }
    schedule(c, first);
    pump();
    return c.promise.future();
  }

  /** Queues a call and arms its deadline; the caller pumps. */
  private void schedule(Call c, boolean first) {
    long delay = Math.max(1, TimeUnit.NANOSECONDS.toMillis(c.deadline.remainingNanos() + 999_999));
    c.timer = vertx.setTimer(delay, id -> expire(c));
    if (first) {
      queue.addFirst(c);
    } else {
      queue.addLast(c);
    }
    queued = queue.size();
  }

  private void pump() {
    while (inFlight == null && !closed) {
      Call c = queue.pollFirst();
      queued = queue.size();
      if (c == null) {
        return;
      }
      if (c.promise.future().isComplete()) {
        continue;
      }
      String why = c.kind == Kind.WAKEUP ? null : unavailable();
      if (why != null) {
        finish(c, Failures.of(Codes.NOT_CONNECTED, why));
        continue;
      }
      inFlight = c;
      switch (c.kind) {
        case AGENT -> agentCall(c);
        case PING -> ping(c);
        case NO_RESPONSE -> noResponse(c);
        case WAKEUP -> wake(c);
      }
    }
  }

  private void agentCall(Call c) {
    String json = c.json != null ? c.json : request(c.command, c.arguments);
    int seconds = libvirtTimeout(c.deadline);
    if (c.direct) {
      // on the pool's thread: the caller has its reply now; blocking() then releases the queue
      blocking(c, () -> {
        String reply = hypervisor.agentCommand(uuid, json, seconds);
        JsonObject result;
        try {
          result = new JsonObject().put("return", new JsonObject(reply).getValue("return"));
        } catch (DecodeException e) {
          return null;
        }
        c.promise.tryComplete(result);
        return result;
      }).onSuccess(result -> {
        if (result == null) {
          finish(c, Failures.of(Codes.AGENT_ERROR, "ProtocolError: libvirt returned no JSON"));
        }
      });
      return;
    }
    blocking(c, () -> hypervisor.agentCommand(uuid, json, seconds)).onSuccess(reply -> {
      JsonObject parsed;
      try {
        parsed = new JsonObject(reply);
      } catch (DecodeException e) {
        finish(c, Failures.of(Codes.AGENT_ERROR, "ProtocolError: libvirt returned no JSON"));
        return;
      }
      finish(c, new JsonObject().put("return", parsed.getValue("return")));
    });
  }

  private void ping(Call c) {
    long start = System.nanoTime();
    int seconds = libvirtTimeout(c.deadline);
    String json = request("guest-ping", null);
    blocking(c, () -> hypervisor.agentCommand(uuid, json, seconds)).onSuccess(reply -> {
      long nanos = System.nanoTime() - start;
      observer.resynced(this, ResyncReason.MANUAL, nanos);
      finish(c, new JsonObject().put("return",
          new JsonObject().put("rttMicros", nanos / 1000)));
      refresh(false);
    });
  }

  /**
   * Shutdown, reboot and suspend: libvirt's APIs send the agent command and return once QEMU
   * reported the guest going down or to sleep (or the agent left); then the reply waits, within
   * the request's deadline, for the domain to reach the state ({@code {"sent": true, "reached":
   * STATE}}); 504 when it does not.
   */
  private void noResponse(Call c) {
    Callable<Void> op;
    Predicate<LibvirtChannel> reached;
    String goal;
    // with the hypervisor's view the reply waits for the state itself, up to the deadline
    switch (c.command) {
      case "guest-shutdown" -> {
        String mode = c.arguments == null ? null : c.arguments.getString("mode");
        if ("reboot".equals(mode)) {
          int before = reboots;
          op = () -> {
            hypervisor.rebootByAgent(uuid);
            return null;
          };
          reached = ch -> ch.reboots > before;
          goal = "rebooted";
        } else if ("halt".equals(mode)) {
          // libvirt has no halt: the command itself, and no reply is the expected outcome
          op = sendExpectingNoReply(c);
          reached = ch -> ch.stateIs(DomainState.SHUTDOWN, DomainState.SHUTOFF);
          goal = "shutdown or shutoff";
        } else {
          op = () -> {
            hypervisor.shutdownByAgent(uuid);
            return null;
          };
          reached = ch -> ch.stateIs(DomainState.SHUTDOWN, DomainState.SHUTOFF);
          goal = "shutdown or shutoff";
        }
      }
      case "guest-suspend-ram", "guest-suspend-hybrid", "guest-suspend-disk" -> {
        SuspendTarget t = switch (c.command) {
          case "guest-suspend-ram" -> SuspendTarget.MEM;
          case "guest-suspend-hybrid" -> SuspendTarget.HYBRID;
          default -> SuspendTarget.DISK;
        };
        op = () -> {
          hypervisor.suspend(uuid, t);
          return null;
        };
        reached = t == SuspendTarget.DISK
            ? ch -> ch.stateIs(DomainState.SHUTOFF)
            : ch -> ch.stateIs(DomainState.PMSUSPENDED);
        goal = t == SuspendTarget.DISK ? "shutoff" : "suspended";
      }
      default -> {
        op = sendExpectingNoReply(c);
        reached = null;
        goal = null;
      }
    }
    Waiter waiter = reached == null ? null : new Waiter(reached);
    if (waiter != null) {
      waiters.add(waiter);
    }
    blocking(c, op).onComplete(ar -> {
      if (ar.failed()) {
        if (waiter != null) {
          waiter.finish(false);
        }
        return;
      }
      // the queue goes on: whatever follows is refused at once while the guest is away
      releaseInFlight(c);
      if (waiter == null) {
        c.promise.tryComplete(new JsonObject().put("sent", true));
        return;
      }
      long waitMs = Math.max(0, c.deadline.remainingMs() - REPLY_MARGIN_MS);
      waiter.await(waitMs).onComplete(done -> {
        cancelTimer(c);
        if (done.result()) {
          c.promise.tryComplete(new JsonObject().put("sent", true).put("reached",
              "rebooted".equals(goal) ? goal : runState()));
        } else {
          c.promise.tryFail(Failures.of(Codes.TIMEOUT, c.command + " was sent, but guest "
              + name() + " did not reach " + goal + " within " + c.deadline.timeoutMs()
              + " ms (it is " + runState() + ")"));
        }
      });
    });
  }

  /** An agent command whose success sends no reply: libvirt's timeout is the expected end. */
  private Callable<Void> sendExpectingNoReply(Call c) {
    String json = request(c.command, c.arguments);
    int seconds = (int) Math.max(1, Math.min(libvirtTimeout(c.deadline),
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

  /**
   * Wakes a suspended guest, then waits (within the deadline) until its agent is back and the
   * channel has resynced (capabilities and freeze state read again), so the next command finds
   * it ready.
   */
  private void wake(Call c) {
    DomainView v = view;
    if (v == null || !v.connectionUp()) {
      finish(c, Failures.of(Codes.NOT_CONNECTED, "cannot wake " + name() + ": " + unavailable()));
      return;
    }
    if (v.state() != DomainState.PMSUSPENDED) {
      finish(c, Failures.of(Codes.BAD_REQUEST, "guest " + name() + " is " + runState()
          + ", not suspended"));
      return;
    }
    Waiter waiter = new Waiter(ch -> ch.state() == LinkState.READY);
    waiters.add(waiter);
    blocking(c, () -> {
      hypervisor.wakeup(uuid);
      return null;
    }).onComplete(ar -> {
      if (ar.failed()) {
        waiter.finish(false);
        return;
      }
      releaseInFlight(c);
      long waitMs = Math.max(0, c.deadline.remainingMs() - REPLY_MARGIN_MS);
      waiter.await(waitMs).onComplete(done -> {
        cancelTimer(c);
        // woken either way; "agent" says whether the next command finds it resynced
        c.promise.tryComplete(new JsonObject().put("return", new JsonObject()
            .put("state", "woken").put("agent", done.result() ? "ready" : state().label())));
      });
    });
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

  /** Runs a libvirt call on the pool; a failure fails {@code c} with the contract's code. */
  private <T> Future<T> blocking(Call c, Callable<T> call) {
    return host.call(call).transform(ar -> {
      if (ar.failed()) {
        Throwable e = ar.cause();
        finish(c, e instanceof HypervisorException he
            ? LibvirtFailures.of(he, name(), c.deadline.timeoutMs())
            : Failures.of(Codes.NOT_CONNECTED, "libvirt call failed: " + e));
        return Future.failedFuture(e);
      }
      if (c.promise.future().isComplete()) {
        // answered already (at the deadline, or from the pool's thread): the queue goes on
        cancelTimer(c);
        releaseInFlight(c);
        return Future.failedFuture("answered already");
      }
      return Future.succeededFuture(ar.result());
    });
  }

  private void expire(Call c) {
    c.timer = -1;
    if (c.promise.future().isComplete()) {
      return;
    }
    long timeoutMs = c.deadline.timeoutMs();
    if (c == inFlight) {
      // libvirt goes on waiting for its own timeout; this guest's next call waits for that
      c.promise.tryFail(Failures.of(Codes.TIMEOUT, "no reply from the agent of " + name()
          + " within " + timeoutMs + " ms"));
    } else if (queue.remove(c)) {
      queued = queue.size();
      c.promise.tryFail(Failures.of(Codes.TIMEOUT, "still queued behind other commands of "
          + name() + " after " + timeoutMs + " ms"));
    } else {
      // waiting for a reached state: answered by its waiter within the deadline
      c.promise.tryFail(Failures.of(Codes.TIMEOUT, c.command + " on " + name()
          + " did not finish within " + timeoutMs + " ms"));
    }
  }

  private void finish(Call c, Object outcome) {
    cancelTimer(c);
    if (outcome instanceof JsonObject result) {
      c.promise.tryComplete(result);
    } else {
      c.promise.tryFail((Throwable) outcome);
    }
    releaseInFlight(c);
  }

  private void releaseInFlight(Call c) {
    if (inFlight == c) {
      inFlight = null;
      pump();
    }
  }

  private void cancelTimer(Call c) {
    if (c.timer >= 0) {
      vertx.cancelTimer(c.timer);
      c.timer = -1;
    }
  }

  private void failQueue(Throwable failure) {
    for (Iterator<Call> it = queue.iterator(); it.hasNext(); ) {
      Call c = it.next();
      it.remove();
      cancelTimer(c);
      c.promise.tryFail(failure);
    }
    queued = 0;
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

  private enum Kind {
    AGENT, NO_RESPONSE, PING, WAKEUP
  }

  private static final class Call {
    final Kind kind;
    final String command;
    final JsonObject arguments;
    final Deadline deadline;
    final Promise<JsonObject> promise = Promise.promise();
    long timer = -1;
    // the request as libvirt gets it, when already encoded
    String json;
    // completed on the pool's thread (executeForCaller)
    boolean direct;

    Call(Kind kind, String command, JsonObject arguments, Deadline deadline) {
      this.kind = kind;
      this.command = command;
      this.arguments = arguments;
      this.deadline = deadline;
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
