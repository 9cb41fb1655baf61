package io.qgagateway.fleet;

import com.hazelcast.config.Config;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.spi.cluster.NodeListener;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * vertx-hazelcast's cluster manager, whose node listener also tells the gateway when members
 * join and leave. The cluster manager has one listener slot, which Vert.x itself fills (its HA
 * manager); this class keeps Vert.x's listener and calls the gateway's after it, so Vert.x's own
 * clean-up of a lost member's registrations has run when the gateway hears of it.
 */
public final class GatewayClusterManager extends HazelcastClusterManager {

  private static final Logger log = LoggerFactory.getLogger(GatewayClusterManager.class);

  private final List<NodeListener> listeners = new CopyOnWriteArrayList<>();
  private volatile NodeListener vertxOwn;

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
