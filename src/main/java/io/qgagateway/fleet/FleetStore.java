package io.qgagateway.fleet;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;

/**
 * The cluster-wide record of who holds which guest behind a {@link FleetView}: it publishes this
 * member's guests and feeds the view with the others' and with membership events.
 */
public interface FleetStore {

  /** A member on its own: nothing to publish, nobody else to hear of. */
  FleetStore NONE = new FleetStore() {
  };

  /**
   * The store for this Vert.x: the Hazelcast record when clustered through
   * {@link ClusterSetup} (a member silent for {@code silentAfterMs} is unreachable), none on a
   * member of its own.
   */
  static FleetStore of(Vertx vertx, FleetView view, long silentAfterMs) {
    if (vertx instanceof VertxInternal internal
        && internal.clusterManager() instanceof GatewayClusterManager cluster) {
      return new HazelcastFleetStore(vertx, cluster, view, silentAfterMs);
    }
    if (vertx.isClustered()) {
      throw new IllegalStateException("a clustered gateway needs the cluster manager of "
          + "ClusterSetup (GatewayClusterManager)");
    }
    return NONE;
  }

  /** Starts publishing and listening; called on the fleet verticle's context. */
  default Future<Void> start() {
    return Future.succeededFuture();
  }

  /** Periodic housekeeping (retention); called on the fleet verticle's context. */
  default void tick(long nowMillis) {
  }

  /**
   * The member is shutting down: its guests stay in the record (they become unreachable, not
   * unknown, once it has left), so the removals of its links are no longer published.
   */
  default void stopPublishing() {
  }

  /**
   * The member is shutting down: the other members' event buses stop sending it
   * {@code agent.*} requests; its handlers still serve what arrives until they are undeployed.
   * Completes once the others have had time to hear of it.
   */
  default Future<Void> withdraw() {
    return Future.succeededFuture();
  }

  default Future<Void> stop() {
    return Future.succeededFuture();
  }
}
