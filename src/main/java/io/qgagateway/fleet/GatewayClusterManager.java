package io.qgagateway.fleet;

import com.hazelcast.config.Config;
import io.qgagateway.api.Addresses;
import io.vertx.core.Completable;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.spi.cluster.NodeListener;
import io.vertx.core.spi.cluster.RegistrationInfo;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * vertx-hazelcast's cluster manager, whose node listener also tells the gateway when members
 * join and leave. The cluster manager has one listener slot, which Vert.x itself fills (its HA
 * manager); this class keeps Vert.x's listener and calls the gateway's after it, so Vert.x's own
 * clean-up of a lost member's registrations has run when the gateway hears of it.
 *
 * <p>It also keeps this member's registrations of the public {@code agent.*} addresses, so a
 * stopping member can withdraw them from the cluster while its handlers still serve: other
 * members' event buses stop choosing it, and what they sent before is still answered.
 */
public final class GatewayClusterManager extends HazelcastClusterManager {

  private static final Logger log = LoggerFactory.getLogger(GatewayClusterManager.class);

  private final List<NodeListener> listeners = new CopyOnWriteArrayList<>();
  private volatile NodeListener vertxOwn;
  // address -> this member's registrations of it (public addresses only)
  private final Map<String, Set<RegistrationInfo>> publicRegistrations = new ConcurrentHashMap<>();

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

  /** Vert.x's own listener: kept, and called before the gateway's. */
  @Override
  public void nodeListener(NodeListener listener) {
    this.vertxOwn = listener;
  }

  private final class FanOut implements NodeListener {
    @Override
    public void nodeAdded(String nodeId) {
      NodeListener own = vertxOwn;
      if (own != null) {
        own.nodeAdded(nodeId);
      }
      for (NodeListener l : listeners) {
        try {
          l.nodeAdded(nodeId);
        } catch (RuntimeException e) {
          log.error("node listener failed on " + nodeId + " added", e);
        }
      }
    }

    @Override
    public void nodeLeft(String nodeId) {
      NodeListener own = vertxOwn;
      if (own != null) {
        own.nodeLeft(nodeId);
      }
      for (NodeListener l : listeners) {
        try {
          l.nodeLeft(nodeId);
        } catch (RuntimeException e) {
          log.error("node listener failed on " + nodeId + " left", e);
        }
      }
    }
  }
}
