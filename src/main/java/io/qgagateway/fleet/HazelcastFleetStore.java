package io.qgagateway.fleet;

import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.EntryListener;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.MapEvent;
import com.hazelcast.replicatedmap.ReplicatedMap;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;
import io.vertx.core.spi.cluster.NodeListener;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;

/**
 * The fleet's holdings in two Hazelcast replicated maps, so every member reads them locally and a
 * change costs one small entry per member, once, instead of periodic announcements:
 * <ul>
 *   <li>{@value #GUESTS_MAP}: {@code <node id>/<guest>} -> {@code ""}, one entry per guest a
 *   member holds, written by that member when it starts or stops holding it; for a libvirt
 *   domain of that member that stopped lately, the reason it cannot take commands instead of
 *   {@code ""} (every member answers it 503 with the reason and the holder), until the member
 *   forgets it (after {@code libvirt.keepStoppedMs}, or at once when it is undefined);</li>
 *   <li>{@value #NODES_MAP}: {@code <node id>} -> {@code {"name", "leftAt"}}, written by each
 *   member at start; {@code leftAt} is added by the coordinator (the live member with the lowest
 *   node id) when the cluster manager reports the member gone.</li>
 * </ul>
 * Who is a member comes from the cluster manager (its member list and node listener); whether
 * a member answers, from a {@link PeerProbe} over the event bus. The coordinator removes the
 * entries of members forgotten after the retention. Map calls that may block run on a worker, in
 * order; the listeners run on Hazelcast's event threads and only update the view.
 */
final class HazelcastFleetStore implements FleetStore, NodeListener, LocalGuests.Listener {

  private static final Logger log = LoggerFactory.getLogger(HazelcastFleetStore.class);

  static final String GUESTS_MAP = "qga.fleet.guests";
  static final String NODES_MAP = "qga.fleet.nodes";
  /** Hazelcast configuration for both maps (see {@link ClusterSetup}). */
  static final String MAPS_PATTERN = "qga.fleet.*";
  private static final long REASSERT_DELAY_MS = 2_000;
  /**
   * How often the cluster manager's member list is read. Its node listener alone can be late:
   * vertx-hazelcast calls it only after cleaning the lost member's event-bus registrations out
   * of Hazelcast maps, which blocks while the partitions that member owned are reassigned
   * (24 s after a SIGSTOP of the Hazelcast master, measured); the member list itself changes
   * as soon as Hazelcast removes the member.
   */
  static final long MEMBERSHIP_POLL_MS = 100;
  /**
   * How often the view is compared with the local copy of the record. The maps' entry events
   * can be lost while Hazelcast migrates partitions (a member joining as others start: 1 of 5
   * members missed part of a joiner's 2,000 entries, measured); the copy itself is repaired
   * by Hazelcast's anti-entropy, and this catches the view up with it.
   */
  static final long RECONCILE_MS = 5_000;
  /** The longest a stopping member waits for its agent.* registrations to be removed. */
  private static final long WITHDRAW_WAIT_MS = 2_000;
  /**
   * How long a stopping member still serves after withdrawing: the other event buses hear of
   * the removal through Hazelcast's entry events, within milliseconds unless loaded (plus a
   * probe interval for the JVM clients).
   */
  private static final long WITHDRAW_GRACE_MS = 500;

  private final Vertx vertx;
  private final GatewayClusterManager cluster;
  private final FleetView view;
  private final String selfId;
  private final PeerProbe probe;
  private final long probeIntervalMs;
  // guests whose entry is still to be written, as LocalGuests.record says at the flush
  private final Set<String> pending = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean flushing = new AtomicBoolean();
  // keys an event touched while the snapshot was read: the event is newer
  private final Set<String> touched = ConcurrentHashMap.newKeySet();
  private volatile boolean loading = true;
  private volatile boolean publishing = true;
  // members whose departure this member noted in the shared record (as coordinator)
  private final Set<String> recordedLeft = ConcurrentHashMap.newKeySet();
  private Context context;
  private ReplicatedMap<String, String> guests;
  private ReplicatedMap<String, String> nodes;
  private UUID guestsListener;
  private UUID nodesListener;
  private Set<String> members = Set.of();
  private long poll = -1;
  private long reconcile = -1;
  private final AtomicBoolean reconciling = new AtomicBoolean();

  HazelcastFleetStore(Vertx vertx, GatewayClusterManager cluster, FleetView view,
                      long silentAfterMs) {
    this.vertx = vertx;
    this.cluster = cluster;
    this.view = view;
    this.selfId = view.self().id();
    this.probeIntervalMs = PeerProbe.intervalMs(silentAfterMs);
    this.probe = new PeerProbe(vertx, silentAfterMs,
        new SilentMembers(vertx, cluster, view, silentAfterMs));
  }

  static String key(String nodeId, String guest) {
    return nodeId + "/" + guest;
  }

  @Override
  public Future<Void> start() {
    context = vertx.getOrCreateContext();
    view.membership(id -> cluster.getNodes().contains(id));
    cluster.addNodeListener(this);
    // answering the others' probes before they learn of this member from the record
    return probe.listen(view.self()).compose(x -> context.<Void>executeBlocking(() -> {
      HazelcastInstance hz = cluster.getHazelcastInstance();
      nodes = hz.getReplicatedMap(NODES_MAP);
      guests = hz.getReplicatedMap(GUESTS_MAP);
      nodesListener = nodes.addEntryListener(new Listener(this::nodeEntry));
      guestsListener = guests.addEntryListener(new Listener(this::guestEntry));
      members = Set.copyOf(cluster.getNodes());
      for (String id : members) {
        view.memberJoined(id);
      }
      nodes.put(selfId, new JsonObject().put("name", view.self().name()).encode());
      for (Map.Entry<String, String> e : nodes.entrySet()) {
        if (!touched.contains(e.getKey())) {
          nodeEntry(e.getKey(), e.getValue());
        }
      }
      for (Map.Entry<String, String> e : guests.entrySet()) {
        if (!touched.contains(e.getKey())) {
          guestEntry(e.getKey(), e.getValue());
        }
      }
      loading = false;
      touched.clear();
      view.local().listener(this);
      guests.putAll(ownEntries());
      log.info("fleet view loaded: " + view.nodes().size() + " other member(s), "
          + view.remoteGuests(true) + " of their guests reachable, "
          + view.remoteGuests(false) + " unreachable");
      return null;
    })).onSuccess(v -> {
      poll = vertx.setPeriodic(MEMBERSHIP_POLL_MS, id -> pollMembers());
      reconcile = vertx.setPeriodic(RECONCILE_MS, id -> reconcile());
      probe.start();
    });
  }

  /** Reads the local copy of the record on a worker and mends what the view's events missed. */
  private void reconcile() {
    if (!running() || !reconciling.compareAndSet(false, true)) {
      return;
    }
    vertx.executeBlocking(() -> {
      Map<String, Set<String>> record = new HashMap<>();
      for (String k : guests.keySet()) {
        int slash = k.indexOf('/');
        if (slash > 0) {
          record.computeIfAbsent(k.substring(0, slash), x -> new java.util.HashSet<>())
              .add(k.substring(slash + 1));
        }
      }
      for (Map.Entry<String, String> e : nodes.entrySet()) {
        FleetView.Node n = view.node(e.getKey());
        if (n == null || !n.gateway()) {
          nodeEntry(e.getKey(), e.getValue());
        }
      }
      int[] fixed = view.reconcile(record, (node, guest) -> guests.get(key(node, guest)));
      if (fixed[0] + fixed[1] > 0) {
        log.warn("fleet view mended from the record: " + fixed[0] + " entries added, "
            + fixed[1] + " removed that its events had missed");
      }
      return null;
    }, false).onComplete(ar -> {
      reconciling.set(false);
      if (ar.failed()) {
        log.warn("comparing the fleet view with the record failed: " + ar.cause());
      }
    });
  }

  private boolean running() {
    return cluster.isActive() && cluster.getHazelcastInstance() != null
        && cluster.getHazelcastInstance().getLifecycleService().isRunning();
  }

  /** Compares the cluster manager's member list with the last one read (on the context). */
  private void pollMembers() {
    if (!running()) {
      return;
    }
    Set<String> now;
    try {
      now = Set.copyOf(cluster.getNodes());
    } catch (RuntimeException e) {
      return;  // Hazelcast shutting down under us
    }
    if (now.equals(members)) {
      return;
    }
    Set<String> before = members;
    members = now;
    for (String id : now) {
      if (!before.contains(id)) {
        nodeAdded(id);
      }
    }
    for (String id : before) {
      if (!now.contains(id)) {
        nodeLeft(id);
      }
    }
  }

  // ---- this member's guests --------------------------------------------------------------------

  /** This member's entries of the record, as they should be now. */
  private Map<String, String> ownEntries() {
    Map<String, String> own = new HashMap<>();
    view.local().stoppedReasons().forEach((name, reason) -> own.put(key(selfId, name), reason));
    for (String name : view.local().names()) {
      own.put(key(selfId, name), "");
    }
    return own;
  }

  @Override
  public void changed(String name) {
    if (!publishing) {
      return;
    }
    pending.add(name);
    if (flushing.compareAndSet(false, true)) {
      context.runOnContext(v -> flush());
    }
  }

  /** Writes what changed since the last flush, in one batch; the next changes wait for it. */
  private void flush() {
    Map<String, String> puts = new HashMap<>();
    List<String> removes = new ArrayList<>();
    for (String name : new ArrayList<>(pending)) {
      if (!pending.remove(name)) {
        continue;
      }
      String value = view.local().record(name);
      if (value != null) {
        puts.put(key(selfId, name), value);
      } else {
        removes.add(key(selfId, name));
      }
    }
    context.executeBlocking(() -> {
      if (!puts.isEmpty()) {
        guests.putAll(puts);
      }
      removes.forEach(guests::remove);
      return null;
    }, true).onComplete(ar -> {
      if (ar.failed()) {
        log.warn("publishing this member's guests failed: " + ar.cause());
      }
      flushing.set(false);
      if (!pending.isEmpty() && flushing.compareAndSet(false, true)) {
        flush();
      }
    });
  }

  @Override
  public void stopPublishing() {
    publishing = false;
    view.local().listener(null);
    if (context != null && nodes != null) {
      // tell the others now, not when Hazelcast lets go of this member after the drain: they
      // stop routing here at once (503 unreachable), and what is under way here may finish
      long now = System.currentTimeMillis();
      context.executeBlocking(() -> nodes.put(selfId, new JsonObject()
          .put("name", view.self().name()).put("leftAt", now).put("leaving", true).encode()),
          true);
    }
  }

  @Override
  public Future<Void> withdraw() {
    // JVM clients stop choosing this member once its probe finds nobody (within a probe
    // interval, which the grace covers); the other members take that as an answer
    probe.mute();
    // bounded: removing registrations can block while Hazelcast repairs another member's loss
    return cluster.withdrawPublicAddresses()
        .timeout(WITHDRAW_WAIT_MS, TimeUnit.MILLISECONDS)
        .otherwise(e -> {
          log.warn("withdrawing this member's agent.* registrations: " + e);
          return null;
        })
        .compose(v -> vertx.timer(WITHDRAW_GRACE_MS + probeIntervalMs))
        .mapEmpty();
  }

  // ---- the maps' events ------------------------------------------------------------------------

  private void guestEntry(String key, String value) {
    int slash = key.indexOf('/');
    if (slash <= 0) {
      return;
    }
    String node = key.substring(0, slash);
    String guest = key.substring(slash + 1);
    if (value != null) {
      view.held(node, guest, value.isEmpty() ? null : value);
    } else {
      view.released(node, guest);
    }
  }

  private void nodeEntry(String id, String value) {
    if (value == null) {
      return;  // forgotten by the coordinator: the view forgets on its own clock
    }
    JsonObject node = new JsonObject(value);
    view.nodeDescribed(id, node.getString("name", id), node.getLong("leftAt", 0L),
        node.getBoolean("leaving", false), cluster.getNodes().contains(id));
  }

  /** Routes an event to {@code apply(key, value or null when removed)}. */
  private final class Listener implements EntryListener<String, String> {
    private final BiConsumer<String, String> apply;

    Listener(BiConsumer<String, String> apply) {
      this.apply = apply;
    }

    private void on(String key, String value) {
      if (loading) {
        touched.add(key);
      }
      apply.accept(key, value);
    }

    @Override
    public void entryAdded(EntryEvent<String, String> e) {
      on(e.getKey(), e.getValue());
    }

    @Override
    public void entryUpdated(EntryEvent<String, String> e) {
      on(e.getKey(), e.getValue());
    }

    @Override
    public void entryRemoved(EntryEvent<String, String> e) {
      on(e.getKey(), null);
    }

    @Override
    public void entryEvicted(EntryEvent<String, String> e) {
      on(e.getKey(), null);
    }

    @Override
    public void entryExpired(EntryEvent<String, String> e) {
      on(e.getKey(), null);
    }

    @Override
    public void mapCleared(MapEvent e) {
    }

    @Override
    public void mapEvicted(MapEvent e) {
    }
  }

  // ---- membership ------------------------------------------------------------------------------

  @Override
  public void nodeAdded(String nodeId) {
    if (!view.memberJoined(nodeId)) {
      return;  // heard of already (the listener and the member list both tell)
    }
    recordedLeft.remove(nodeId);
    // after a split heals, the maps merge; make sure this member's own entries survived
    vertx.setTimer(REASSERT_DELAY_MS, id -> reassert());
  }

  @Override
  public void nodeLeft(String nodeId) {
    long now = System.currentTimeMillis();
    if (!view.memberLeft(nodeId, now)) {
      return;  // heard of already
    }
    if (context != null && coordinator()) {
      context.executeBlocking(() -> {
        recordLeft(nodeId, now);
        return null;
      }, true);
    }
  }

  /** The live gateway member with the lowest id keeps the shared record tidy. */
  private boolean coordinator() {
    for (FleetView.Node n : view.nodes()) {
      if (n.live() && n.gateway() && n.id().compareTo(selfId) < 0) {
        return false;
      }
    }
    return true;
  }

  /** Blocking: notes in the shared record when a member left, unless already noted. */
  private void recordLeft(String nodeId, long at) {
    String value = nodes.get(nodeId);
    if (value == null) {
      return;
    }
    JsonObject node = new JsonObject(value);
    if (!node.containsKey("leftAt")) {
      nodes.put(nodeId, node.put("leftAt", at).encode());
    }
  }

  private void reassert() {
    if (!publishing || context == null) {
      return;
    }
    context.executeBlocking(() -> {
      Map<String, String> missing = new HashMap<>();
      ownEntries().forEach((k, value) -> {
        if (!value.equals(guests.get(k))) {
          missing.put(k, value);
        }
      });
      String mine = nodes.get(selfId);
      if (mine == null || new JsonObject(mine).containsKey("leftAt")) {
        // back after a split: no longer gone
        nodes.put(selfId, new JsonObject().put("name", view.self().name()).encode());
      }
      if (!missing.isEmpty()) {
        log.info("re-published " + missing.size() + " guest(s) of this member after a merge");
        guests.putAll(missing);
      }
      return null;
    }, true);
  }

  // ---- retention -------------------------------------------------------------------------------

  @Override
  public void tick(long nowMillis) {
    List<String> forgotten = view.expire(nowMillis);
    if (!coordinator()) {
      return;
    }
    List<FleetView.Node> left = new ArrayList<>();
    for (FleetView.Node n : view.nodes()) {
      if (!n.live() && !n.silent() && n.gateway() && recordedLeft.add(n.id())) {
        left.add(n);
      }
    }
    recordedLeft.removeAll(forgotten);
    if (forgotten.isEmpty() && left.isEmpty()) {
      return;
    }
    context.executeBlocking(() -> {
      for (FleetView.Node n : left) {
        recordLeft(n.id(), n.leftAtMillis());
      }
      if (!forgotten.isEmpty()) {
        int removed = 0;
        for (String k : new ArrayList<>(guests.keySet())) {
          int slash = k.indexOf('/');
          if (slash > 0 && forgotten.contains(k.substring(0, slash))) {
            guests.remove(k);
            removed++;
          }
        }
        forgotten.forEach(nodes::remove);
        log.info("removed " + removed + " guest entries of " + forgotten.size()
            + " forgotten member(s) from the fleet record");
      }
      return null;
    }, true);
  }

  @Override
  public Future<Void> stop() {
    cluster.removeNodeListener(this);
    if (poll >= 0) {
      vertx.cancelTimer(poll);
    }
    if (reconcile >= 0) {
      vertx.cancelTimer(reconcile);
    }
    stopPublishing();
    if (context == null || guests == null) {
      return probe.stop();
    }
    return context.<Void>executeBlocking(() -> {
      guests.removeEntryListener(guestsListener);
      nodes.removeEntryListener(nodesListener);
      return null;
    }).eventually(probe::stop);
  }
}
