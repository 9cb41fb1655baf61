package io.qgagateway.libvirt;

import io.qgagateway.libvirt.Hypervisor.DomainInfo;
import io.qgagateway.libvirt.Hypervisor.DomainState;
import io.qgagateway.libvirt.Hypervisor.Events;
import io.qgagateway.link.ChannelFactory;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkOptions;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One libvirt connection and the domains behind it. The guests are the active domains that
 * define a guest-agent channel; libvirt's lifecycle and agent events keep them current (no
 * polling), and a lost connection is reopened with backoff and the list read again.
 *
 * <p>Domain state lives on this verticle's context; each guest's {@link LibvirtChannel} gets
 * copies ({@link DomainView}) on its own context. libvirt's blocking calls run on a pool of
 * {@code libvirt.workers} threads ({@code qga-libvirt-N}), never on an event loop: a plain
 * executor rather than a Vert.x worker pool, so that a guest's call completes its caller's
 * reply on the pool's thread without a hand-off back to a context.
 */
public final class LibvirtHost extends VerticleBase {

  private static final Logger log = LoggerFactory.getLogger(LibvirtHost.class);
  private static final long RECONNECT_INITIAL_MS = 500;
  private static final long RECONNECT_MAX_MS = 10_000;
  /** How long start-up waits for the first listing before it goes on without it. */
  private static final long FIRST_LIST_MS = 10_000;

  /**
   * A shut-off domain with an agent channel, listed so that callers learn why it cannot take
   * commands: while it is defined, and for {@code libvirt.keepStoppedMs} after it is undefined.
   */
  public record Stopped(String name, String uuid, String reason, Instant since) {
  }

  /** Hears which domains are guests now, and which ones stopped; called on this context. */
  public interface Listener {
    void targets(List<GuestTarget> targets);

    default void stopped(Stopped stopped) {
    }

    default void forgotten(String name) {
    }
  }

  private final Hypervisor hypervisor;
  private final LibvirtOptions options;
  private final Listener listener;
  private final Map<String, DomainView> domains = new HashMap<>();
  private final Map<String, LibvirtChannel> channels = new ConcurrentHashMap<>();
  // the shut-off domains listed as stopped: name -> uuid
  private final Map<String, String> listedStopped = new HashMap<>();
  // those undefined, until they are forgotten: name -> timer
  private final Map<String, Long> forgetTimers = new HashMap<>();
  private final Set<String> badNames = new HashSet<>();
  // threads start on demand: a host that never starts leaves none behind
  private final ExecutorService workers;
  private boolean connected;
  private String connectionNote = "not connected yet";
  private long backoffMs = RECONNECT_INITIAL_MS;
  private long reconnectTimer = -1;
  private boolean stopped;
  private int generation;

  public LibvirtHost(Hypervisor hypervisor, LibvirtOptions options, Listener listener) {
    this.hypervisor = hypervisor;
    this.options = options;
    this.listener = listener;
    AtomicInteger threads = new AtomicInteger();
    this.workers = Executors.newFixedThreadPool(options.workers(), r -> {
      Thread t = new Thread(r, "qga-libvirt-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  public String uri() {
    return hypervisor.uri();
  }

  public LibvirtOptions options() {
    return options;
  }

  Hypervisor hypervisor() {
    return hypervisor;
  }

  /** Whether the connection is up; any thread. */
  public boolean connected() {
    return connected;
  }

  /** The channels of this host's guests, for {@link io.qgagateway.fleet.GuestManager}. */
  public ChannelFactory channels(LinkOptions link) {
    return (vertx, target, observer) -> new LibvirtChannel(vertx, this, target, observer, link);
  }

  @Override
  public Future<?> start() {
    hypervisor.listen(new Relay(context));
    Promise<Void> first = Promise.promise();
    connect(first);
    // a daemon that is slow or gone does not hold up the gateway: it goes on retrying
    long timer = vertx.setTimer(FIRST_LIST_MS, id -> first.tryComplete());
    return first.future().onComplete(ar -> vertx.cancelTimer(timer));
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    if (reconnectTimer >= 0) {
      vertx.cancelTimer(reconnectTimer);
    }
    forgetTimers.values().forEach(vertx::cancelTimer);
    return call(() -> {
      hypervisor.close();
      return null;
    }).onComplete(ar -> workers.shutdown());
  }

  /** Runs a blocking libvirt call on the pool; completes on the caller's context. */
  <T> Future<T> call(Callable<T> call) {
    Promise<T> done = ((ContextInternal) vertx.getOrCreateContext()).promise();
    workers.execute(() -> {
      try {
        done.complete(call.call());
      } catch (Throwable e) {
        done.fail(e);
      }
    });
    return done.future();
  }

  /** The pool the guests' calls run on; each guest queues its own, one at a time. */
  Executor calls() {
    return workers;
  }

  // ---- connection ----------------------------------------------------------------------------

  private void connect(Promise<Void> first) {
    reconnectTimer = -1;
    if (stopped) {
      first.tryComplete();
      return;
    }
    int gen = ++generation;
    call(() -> {
      hypervisor.open();
      return new Listing(hypervisor.activeDomains(), hypervisor.inactiveDomains());
    }).onComplete(ar -> {
      if (stopped || gen != generation) {
        first.tryComplete();
        return;
      }
      if (ar.failed()) {
        connectionNote = ar.cause().getMessage();
        log.warn("libvirt " + uri() + ": cannot connect (" + connectionNote + "); retrying in "
            + backoffMs + " ms");
        scheduleReconnect();
        first.tryComplete();
        return;
      }
      connected = true;
      connectionNote = null;
      backoffMs = RECONNECT_INITIAL_MS;
      log.info("libvirt " + uri() + ": connected, " + ar.result().active().size()
          + " active domains, " + ar.result().inactive().size() + " shut off");
      relisted(ar.result());
      first.tryComplete();
    });
  }

  private void scheduleReconnect() {
    if (!stopped && reconnectTimer < 0) {
      long delay = backoffMs;
      backoffMs = Math.min(RECONNECT_MAX_MS, backoffMs * 2);
      reconnectTimer = vertx.setTimer(delay, id -> connect(Promise.promise()));
    }
  }

  private void onClosed(String reason) {
    if (!connected) {
      return;
    }
    connected = false;
    connectionNote = reason;
    log.warn("libvirt " + uri() + ": connection lost (" + reason + "); reconnecting");
    for (Map.Entry<String, DomainView> e : domains.entrySet()) {
      DomainView v = e.getValue().withConnection(false, reason);
      e.setValue(v);
      push(v);
    }
    backoffMs = RECONNECT_INITIAL_MS;
    scheduleReconnect();
  }

  /** The domains as one (re)connection found them. */
  private record Listing(List<DomainInfo> active, List<DomainInfo> inactive) {
  }

  /**
   * A full listing after (re)connecting: domains that stopped meanwhile go, new ones come, and
   * the shut-off ones with an agent channel are listed as stopped (those undefined meanwhile
   * are forgotten).
   */
  private void relisted(Listing listing) {
    Map<String, DomainView> seen = new HashMap<>();
    for (DomainInfo info : listing.active()) {
      if (info.agentChannel() && acceptableName(info.name())) {
        seen.put(info.uuid(), view(info));
      }
    }
    for (String uuid : new ArrayList<>(domains.keySet())) {
      if (!seen.containsKey(uuid)) {
        DomainView gone = domains.remove(uuid).withState(DomainState.SHUTOFF, "stopped while "
            + "the gateway was not connected to libvirt").withConnection(true, null);
        push(gone);
        remember(gone);
      }
    }
    for (DomainView v : seen.values()) {
      domains.put(v.uuid(), v);
      forget(v.name());
      push(v);
    }
    Set<String> shutOff = new HashSet<>();
    for (DomainInfo info : listing.inactive()) {
      if (info.agentChannel() && acceptableName(info.name())) {
        shutOff.add(info.name());
        if (!listedStopped.containsKey(info.name())) {
          remember(view(info));
        }
      }
    }
    for (String name : new ArrayList<>(listedStopped.keySet())) {
      if (!shutOff.contains(name) && !forgetTimers.containsKey(name)) {
        forget(name);
      }
    }
    publishTargets();
  }

  private DomainView view(DomainInfo info) {
    return new DomainView(info.uuid(), info.name(), info.state(), null, info.agentConnected(),
        true, null);
  }

  private boolean acceptableName(String name) {
    if (GuestTarget.validName(name)) {
      return true;
    }
    if (badNames.add(name)) {
      log.warn("libvirt domain '" + name + "' is not served: guest names must match "
          + GuestTarget.NAME.pattern());
    }
    return false;
  }

  private void publishTargets() {
    List<GuestTarget> targets = new ArrayList<>();
    for (DomainView v : domains.values()) {
      targets.add(GuestTarget.libvirt(v.name(), uri(), v.uuid()));
    }
    listener.targets(targets);
  }

  // ---- events --------------------------------------------------------------------------------

  private void onLifecycle(String uuid, String name, int event, int detail) {
    DomainView v = domains.get(uuid);
    switch (event) {
      case Events.STARTED -> {
        if (v == null) {
          added(uuid);
          return;
        }
        // a new QEMU: its agent connects later, except after a wake-up from S3
        boolean wakeup = detail == 3;
        update(v.withState(DomainState.RUNNING, wakeup ? "woken up" : null)
            .withAgent(wakeup && v.agentConnected()));
      }
      case Events.SUSPENDED -> {
        if (v != null) {
          update(v.withState(DomainState.PAUSED, pausedDetail(detail)));
        }
      }
      case Events.RESUMED -> {
        if (v != null) {
          update(v.withState(DomainState.RUNNING, null));
        }
      }
      case Events.SHUTDOWN -> {
        if (v != null) {
          update(v.withState(DomainState.SHUTDOWN, "the guest powered off"));
        }
      }
      case Events.PMSUSPENDED -> {
        if (v != null) {
          update(v.withState(DomainState.PMSUSPENDED, detail == 1 ? "to disk" : "to memory")
              .withAgent(false));
        }
      }
      case Events.CRASHED -> {
        if (v != null) {
          update(v.withState(DomainState.CRASHED, null));
        }
      }
      case Events.STOPPED -> {
        if (v != null) {
          domains.remove(uuid);
          DomainView gone = v.withState(DomainState.SHUTOFF, stoppedDetail(detail))
              .withAgent(false);
          push(gone);
          // a domain that migrated away lives on elsewhere: nothing to tell about it here
          if (detail != 3) {
            remember(gone);
            // still defined? (a transient domain is not, and may send no UNDEFINED event)
            added(uuid);
          }
          publishTargets();
        }
      }
      case Events.UNDEFINED -> undefined(name);
      case Events.DEFINED -> {
        // a running domain's new definition applies at its next start; a shut-off one with
        // an agent channel is listed as stopped
        if (v == null) {
          added(uuid);
        }
      }
      default -> {
      }
    }
  }

  /**
   * Reads a domain's definition again: one that started, or whose devices changed, or whose
   * agent connected before the gateway knew it as a guest (a channel hot-plugged into a running
   * domain). It becomes a guest when it is active and has an agent channel, and stops being one
   * when its channel was unplugged.
   */
  private void added(String uuid) {
    int gen = generation;
    call(() -> hypervisor.domain(uuid)).onComplete(ar -> {
      if (gen != generation || stopped) {
        return;
      }
      if (ar.failed()) {
        log.warn("libvirt: cannot describe a domain that started or changed ("
            + ar.cause().getMessage() + ")");
        return;
      }
      DomainInfo info = ar.result();
      if (info == null) {
        // gone from libvirt (a transient domain that stopped): listed a while, then forgotten
        for (Map.Entry<String, String> e : new ArrayList<>(listedStopped.entrySet())) {
          if (e.getValue().equals(uuid)) {
            undefined(e.getKey());
          }
        }
        return;
      }
      DomainView known = domains.get(uuid);
      if (!info.state().active()) {
        if (known == null && info.agentChannel() && acceptableName(info.name())) {
          if (!listedStopped.containsKey(info.name())) {
            remember(view(info));
          }
        } else if (known == null && listedStopped.containsKey(info.name())) {
          // defined again without its agent channel: not a guest any more
          forget(info.name());
        }
        return;
      }
      if (known != null) {
        if (!info.agentChannel()) {
          log.info("libvirt domain " + info.name() + ": its guest-agent channel was removed; "
              + "no longer a guest");
          domains.remove(uuid);
          publishTargets();
        } else if (known.agentConnected() != info.agentConnected()) {
          update(known.withAgent(info.agentConnected()));
        }
        return;
      }
      if (!info.agentChannel()) {
        log.debug("libvirt domain " + info.name() + " has no guest-agent channel; not a guest");
        return;
      }
      if (acceptableName(info.name())) {
        DomainView v = view(info);
        domains.put(uuid, v);
        forget(v.name());
        push(v);
        publishTargets();
      }
    });
  }

  private void onAgent(String uuid, boolean agentConnected) {
    DomainView v = domains.get(uuid);
    if (v == null) {
      // an agent channel this gateway has not seen: plugged into a running domain
      added(uuid);
      return;
    }
    if (agentConnected && v.agentConnected()) {
      // QEMU reports at most one VSERPORT_CHANGE a second per port and keeps the last: a
      // "connected" without the "disconnected" before it is an agent that restarted meanwhile
      update(v.withAgent(false));
    }
    update(domains.get(uuid).withAgent(agentConnected));
  }

  private void onReboot(String uuid) {
    DomainView v = domains.get(uuid);
    if (v != null) {
      // the guest resets: its agent is gone until it connects again after the boot
      update(v.withAgent(false));
    }
    LibvirtChannel channel = channels.get(uuid);
    if (channel != null) {
      channel.context().runOnContext(x -> channel.rebooted());
    }
  }

  private void update(DomainView v) {
    domains.put(v.uuid(), v);
    push(v);
  }

  private void push(DomainView v) {
    LibvirtChannel channel = channels.get(v.uuid());
    if (channel != null) {
      channel.context().runOnContext(x -> channel.update(v));
    }
  }

  /** Lists a shut-off domain as stopped, with why it cannot take commands. */
  private void remember(DomainView gone) {
    if (options.keepStoppedMs() <= 0) {
      return;
    }
    cancelForgetTimer(gone.name());
    listedStopped.put(gone.name(), gone.uuid());
    listener.stopped(new Stopped(gone.name(), gone.uuid(),
        gone.unavailable(uri()), Instant.now()));
  }

  /** Undefined (a transient domain that stopped, too): listed a while longer, then gone. */
  private void undefined(String name) {
    if (listedStopped.containsKey(name) && !forgetTimers.containsKey(name)) {
      forgetTimers.put(name, vertx.setTimer(options.keepStoppedMs(), id -> {
        forgetTimers.remove(name);
        forget(name);
      }));
    }
  }

  private void forget(String name) {
    cancelForgetTimer(name);
    if (listedStopped.remove(name) != null) {
      listener.forgotten(name);
    }
  }

  private void cancelForgetTimer(String name) {
    Long timer = forgetTimers.remove(name);
    if (timer != null) {
      vertx.cancelTimer(timer);
    }
  }

  private static String stoppedDetail(int detail) {
    return switch (detail) {
      case 0 -> "shutdown";
      case 1 -> "destroyed";
      case 2 -> "crashed";
      case 3 -> "migrated";
      case 4 -> "saved";
      case 5 -> "failed";
      case 6 -> "from snapshot";
      default -> null;
    };
  }

  private static String pausedDetail(int detail) {
    return switch (detail) {
      case 0 -> "by the user";
      case 1 -> "migrating";
      case 2 -> "I/O error";
      case 3 -> "watchdog";
      case 4 -> "restored";
      case 5 -> "snapshot";
      case 6 -> "API error";
      case 7 -> "post-copy migration";
      case 8 -> "post-copy migration failed";
      default -> null;
    };
  }

  // ---- channels ------------------------------------------------------------------------------

  /** A channel starts: it gets the domain's current view on its own context. */
  void attach(LibvirtChannel channel) {
    String uuid = channel.target().domainUuid();
    channels.put(uuid, channel);
    context.runOnContext(x -> {
      DomainView v = domains.get(uuid);
      if (v == null) {
        v = new DomainView(uuid, channel.name(), DomainState.SHUTOFF, null, false, connected,
            connectionNote);
      } else if (!connected) {
        v = v.withConnection(false, connectionNote);
      }
      DomainView current = v;
      channel.context().runOnContext(y -> channel.update(current));
    });
  }

  void detach(LibvirtChannel channel) {
    channels.remove(channel.target().domainUuid(), channel);
  }

  /** For {@code agent.guests}: a stopped domain's entry. */
  public static JsonObject describe(Stopped s, String uri) {
    return new JsonObject()
        .put("transport", GuestTarget.Transport.LIBVIRT.label())
        .put("address", uri + "#" + s.uuid())
        .put("state", "disconnected")
        .put("runState", "shutoff")
        .put("since", s.since().toString())
        .put("agent", null)
        .put("frozen", false)
        .put("queued", 0)
        .put("lastError", s.reason());
  }

  /** Hands libvirt's events (on its own thread) to this verticle's context. */
  private final class Relay implements Hypervisor.Listener {
    private final Context target;

    Relay(Context target) {
      this.target = target;
    }

    @Override
    public void lifecycle(String uuid, String name, int event, int detail) {
      target.runOnContext(x -> onLifecycle(uuid, name, event, detail));
    }

    @Override
    public void agent(String uuid, String name, boolean agentConnected, int reason) {
      target.runOnContext(x -> onAgent(uuid, agentConnected));
    }

    @Override
    public void reboot(String uuid, String name) {
      target.runOnContext(x -> onReboot(uuid));
    }

    @Override
    public void devices(String uuid, String name) {
      target.runOnContext(x -> added(uuid));
    }

    @Override
    public void closed(String reason) {
      target.runOnContext(x -> onClosed(reason));
    }
  }
}
