package io.qgagateway.fleet;

import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.util.Collection;
import java.util.concurrent.Callable;

/**
 * What a gateway member does with its {@link PeerProbe}'s verdicts on the other members: a
 * silent one's guests are unreachable in the {@link FleetView}, and its {@code agent.*}
 * registrations leave the cluster, so the event buses of the cluster's other callers stop
 * handing it requests too; each member puts its own registrations back every silence and after
 * a pause of its own (see {@link GatewayClusterManager}).
 */
final class SilentMembers implements PeerProbe.Peers {

  private static final Logger log = LoggerFactory.getLogger(SilentMembers.class);
  /** Every this many rounds (of {@code cluster.silentAfterMs}), each registration is checked. */
  static final int FULL_CHECK_EVERY = 12;

  private final Vertx vertx;
  private final GatewayClusterManager cluster;
  private final FleetView view;
  private final long silentAfterMs;
  private long lastRestore;
  private int restores;

  SilentMembers(Vertx vertx, GatewayClusterManager cluster, FleetView view, long silentAfterMs) {
    this.vertx = vertx;
    this.cluster = cluster;
    this.view = view;
    this.silentAfterMs = silentAfterMs;
  }

  @Override
  public Collection<String> ids() {
    return view.nodes().stream().filter(n -> n.gateway() && (n.live() || n.silent()))
        .map(FleetView.Node::id).toList();
  }

  @Override
  public void silent(String id, long sinceMillis) {
    if (view.memberSilent(id, sinceMillis)) {
      blocking("removed the agent.* registrations of silent member " + id,
          () -> cluster.forgetPublicAddressesOf(id));
    }
  }

  @Override
  public void answered(String id, String name) {
    if (name != null) {
      // it answered over the event bus (which TLS authenticates): it may win a duplicated name
      view.memberConfirmed(id);
    }
    view.memberAnswers(id);
  }

  @Override
  public void round(long now, boolean late) {
    if (late || now - lastRestore >= silentAfterMs) {
      lastRestore = now;
      // after a pause of its own every registration is checked; else one, and all of them
      // every FULL_CHECK_EVERY rounds (a removal cut short, a write that never landed)
      boolean full = late || restores++ % FULL_CHECK_EVERY == 0;
      blocking("agent.* registrations of this member missing from the cluster (removed while"
          + " it was silent, or not written yet), registered again",
          () -> cluster.restorePublicAddresses(full));
    }
  }

  /** Runs a registration change on a worker (it blocks on Hazelcast) and logs what it did. */
  private void blocking(String what, Callable<Integer> change) {
    vertx.executeBlocking(change, false).onComplete(ar -> {
      if (ar.failed()) {
        log.warn(what + ": " + ar.cause());
      } else if (ar.result() > 0) {
        log.info(what + ": " + ar.result());
      }
    });
  }
}
