package io.qgagateway.fleet;

import com.hazelcast.config.Config;
import com.hazelcast.multimap.MultiMap;
import io.qgagateway.api.Addresses;
import io.vertx.core.Completable;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.spi.cluster.NodeListener;
import io.vertx.core.spi.cluster.RegistrationInfo;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import io.vertx.spi.cluster.hazelcast.impl.HazelcastRegistrationInfo;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;

/**
 * vertx-hazelcast's cluster manager, whose node listener also tells the gateway when members
 * join and leave. The cluster manager has one listener slot, which Vert.x itself fills (its HA
 * manager); this class keeps Vert.x's listener and calls the gateway's after it, so Vert.x's own
 * clean-up of a lost member's registrations has run when the gateway hears of it.
 *
 * <p>It also keeps this member's registrations of the public {@code agent.*} addresses, so a
 * stopping member can withdraw them from the cluster while its handlers still serve: other
 * members' event buses stop choosing it, and what they sent before is still answered.
 *
 * <p>The same registrations of a member found silent are removed by the others
 * ({@link #forgetPublicAddressesOf}), so the event buses of the cluster's callers stop handing
 * {@code agent.*} requests to a hung member after the probe's silence rather than after
 * Hazelcast's failure detection; the member puts them back once it runs again
 * ({@link #restorePublicAddresses}).
 */
public final class GatewayClusterManager extends HazelcastClusterManager {

  private static final Logger log = LoggerFactory.getLogger(GatewayClusterManager.class);

  /** The name vertx-hazelcast gives its map of registrations (address -> node, seq). */
  static final String SUBSCRIPTIONS_MAP = "__vertx.subs";

  private final List<NodeListener> listeners = new CopyOnWriteArrayList<>();
  private volatile NodeListener vertxOwn;
  // address -> this member's registrations of it (public addresses only)
  private final Map<String, Set<RegistrationInfo>> publicRegistrations = new ConcurrentHashMap<>();
  private volatile boolean withdrawn;

  public GatewayClusterManager(Config config) {
    super(config);
    // installed now, so the gateway hears of members even if Vert.x never sets a listener
    super.nodeListener(new FanOut());
  }

  /** Adds a listener; it is called on Hazelcast's event thread and must not block. */
  public void addNodeListener(NodeListener listener) {
    listeners.add(listener);
  }

  public void removeNodeListener(NodeListener listener) {
    listeners.remove(listener);
  }

  @Override
  public void addRegistration(String address, RegistrationInfo info,
                              Completable<Void> promise) {
    if (address.startsWith(Addresses.PUBLIC_PREFIX)) {
      publicRegistrations.computeIfAbsent(address, a -> ConcurrentHashMap.newKeySet()).add(info);
    }
    super.addRegistration(address, info, promise);
  }

  @Override
  public void removeRegistration(String address, RegistrationInfo info,
                                 Completable<Void> promise) {
    Set<RegistrationInfo> infos = publicRegistrations.get(address);
    if (infos != null) {
      infos.remove(info);
    }
    super.removeRegistration(address, info, promise);
  }

  /**
   * Removes this member's registrations of the public addresses from the cluster, keeping the
   * local handlers: the others stop sending {@code agent.*} here (once their event buses hear
   * of it), and whatever reaches this member meanwhile is still served.
   */
  public Future<Void> withdrawPublicAddresses() {
    withdrawn = true;
    List<Future<Void>> removed = new ArrayList<>();
    publicRegistrations.forEach((address, infos) -> {
      for (RegistrationInfo info : infos) {
        Promise<Void> done = Promise.promise();
        super.removeRegistration(address, info, done);
        removed.add(done.future());
      }
    });
    return Future.join(removed).mapEmpty();
  }

  /**
   * Removes another member's registrations of the public addresses from the cluster (it is
   * silent): every event bus stops choosing it for {@code agent.*}. Idempotent; blocks on
   * Hazelcast, so call it on a worker.
   *
   * @return how many were removed
   */
  int forgetPublicAddressesOf(String nodeId) {
    MultiMap<String, HazelcastRegistrationInfo> subs = subscriptions();
    int removed = 0;
    for (String address : subs.keySet()) {
      if (!address.startsWith(Addresses.PUBLIC_PREFIX)) {
        continue;
      }
      for (HazelcastRegistrationInfo info : subs.get(address)) {
        if (nodeId.equals(info.unwrap().nodeId()) && subs.remove(address, info)) {
          removed++;
        }
      }
    }
    return removed;
  }

  /**
   * Puts back this member's registrations of the public addresses that another member removed
   * while this one was silent; none once this member has withdrawn them to stop. Blocks on
   * Hazelcast, so call it on a worker.
   *
   * @param full check every registration (one Hazelcast call each); else the first only, and
   *             the rest when it is missing: the others remove a silent member's
   *             registrations all together
   * @return how many were put back
   */
  int restorePublicAddresses(boolean full) {
    MultiMap<String, HazelcastRegistrationInfo> subs = subscriptions();
    if (withdrawn || !full && firstStillRegistered(subs)) {
      return 0;
    }
    int restored = 0;
    for (Map.Entry<String, Set<RegistrationInfo>> e : publicRegistrations.entrySet()) {
      String address = e.getKey();
      for (RegistrationInfo info : e.getValue()) {
        if (withdrawn) {
          return restored;
        }
        HazelcastRegistrationInfo entry = new HazelcastRegistrationInfo(info);
        if (subs.containsEntry(address, entry) || !subs.put(address, entry)) {
          continue;
        }
        // unregistered or withdrawn while this ran: its removal may have come before the put
        if (withdrawn || !e.getValue().contains(info)) {
          subs.remove(address, entry);
        } else {
          restored++;
        }
      }
    }
    return restored;
  }

  private boolean firstStillRegistered(MultiMap<String, HazelcastRegistrationInfo> subs) {
    return publicRegistrations.entrySet().stream()
        .flatMap(e -> e.getValue().stream().map(info -> Map.entry(e.getKey(), info)))
        .findFirst()
        .map(first -> subs.containsEntry(first.getKey(),
            new HazelcastRegistrationInfo(first.getValue())))
        .orElse(true);
  }

  /** vertx-hazelcast's cluster-wide map of event-bus registrations (SubsMapHelper's). */
  private MultiMap<String, HazelcastRegistrationInfo> subscriptions() {
    return getHazelcastInstance().getMultiMap(SUBSCRIPTIONS_MAP);
  }

  /** Vert.x's own listener: kept, and called before the gateway's. */
  @Override
  public void nodeListener(NodeListener listener) {
    this.vertxOwn = listener;
  }

  private final class FanOut implements NodeListener {
    @Override
    public void nodeAdded(String nodeId) {
      fire(nodeId, "added", NodeListener::nodeAdded);
    }

    @Override
    public void nodeLeft(String nodeId) {
      fire(nodeId, "left", NodeListener::nodeLeft);
    }

    /** Vert.x's own listener first, then the gateway's, each shielded from the others. */
    private void fire(String nodeId, String what, BiConsumer<NodeListener, String> event) {
      NodeListener own = vertxOwn;
      if (own != null) {
        event.accept(own, nodeId);
      }
      for (NodeListener l : listeners) {
        try {
          event.accept(l, nodeId);
        } catch (RuntimeException e) {
          log.error("node listener failed on " + nodeId + " " + what, e);
        }
      }
    }
  }
}
