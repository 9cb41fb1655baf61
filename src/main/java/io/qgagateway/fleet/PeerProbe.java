package io.qgagateway.fleet;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Asks every other gateway member, over the event bus that carries the forwarded requests,
 * whether it answers, and tells the {@link FleetView} when one has been silent for
 * {@code silentAfterMs} (hung, SIGSTOPped, cut off) and when it answers again.
 *
 * <p>Why not Hazelcast's heartbeat alone: on a loaded host the heartbeats between two healthy
 * members stalled for about 4 s (measured, docs/BENCHMARKS.md section 8) while the event bus
 * between them answered within 120 ms; a failure detection short enough for the 5 s target
 * removed healthy members (a split, merged only 15 s later). So Hazelcast's detection is long
 * (it decides membership: a removed member's state is dropped) and this probe is short (it only
 * decides routing: a silent member answers 503 until it answers again, nothing is dropped).
 */
final class PeerProbe {

  private final Vertx vertx;
  private final FleetView view;
  private final long silentAfterMs;
  private final long intervalMs;
  // member id -> when it last answered (or was first probed)
  private final Map<String, Long> answered = new ConcurrentHashMap<>();
  private final Set<String> asking = ConcurrentHashMap.newKeySet();
  private MessageConsumer<Object> consumer;
  private long timer = -1;
  private long lastRound;

  PeerProbe(Vertx vertx, FleetView view, long silentAfterMs) {
    this.vertx = vertx;
    this.view = view;
    this.silentAfterMs = silentAfterMs;
    // five probes per silence: one lost or late reply does not make a member silent
    this.intervalMs = Math.max(100, silentAfterMs / 5);
  }

  static String address(String nodeId) {
    return "qga.fleet.node." + nodeId + ".probe";
  }

  /** Answers the others' probes; called before this member is named in the fleet record. */
  Future<Void> listen() {
    consumer = vertx.eventBus().consumer(address(view.self().id()), m -> {
      if (m.replyAddress() != null) {
        m.reply(null);
      }
    });
    return consumer.completion();
  }

  /** Starts probing the others. */
  void start() {
    timer = vertx.setPeriodic(intervalMs, id -> round(System.currentTimeMillis()));
  }

  private void round(long now) {
    // this member itself paused (a GC, a starved host): the others' answers may be waiting
    // unread or their probes timed out here; each gets a whole silence from now
    boolean late = lastRound > 0 && now - lastRound > 2 * intervalMs;
    lastRound = now;
    if (late) {
      answered.replaceAll((id, at) -> now);
    }
    for (FleetView.Node n : view.nodes()) {
      String id = n.id();
      if (!n.gateway() || !(n.live() || n.silent())) {
        answered.remove(id);
        continue;
      }
      long last = answered.computeIfAbsent(id, k -> now);
      if (n.live() && now - last >= silentAfterMs) {
        view.memberSilent(id, last);
      }
      if (asking.add(id)) {
        ask(id);
      }
    }
  }

  private void ask(String id) {
    vertx.eventBus().request(address(id), null, new DeliveryOptions().setSendTimeout(silentAfterMs))
        .onComplete(ar -> {
          asking.remove(id);
          // no handler: a member of a version without the probe, or one whose registrations
          // are being dropped as it leaves; membership decides then
          if (ar.succeeded()) {
            view.memberConfirmed(id);
          }
          if (ar.succeeded() || ar.cause() instanceof ReplyException re
              && re.failureType() != ReplyFailure.TIMEOUT) {
            answered.put(id, System.currentTimeMillis());
            view.memberAnswers(id);
          }
        });
  }

  Future<Void> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return consumer == null ? Future.succeededFuture() : consumer.unregister();
  }
}
