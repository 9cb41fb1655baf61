package io.qgagateway.fleet;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Asks other gateway members, over the event bus that carries the requests, whether they
 * answer, and tells its {@link Peers} when one has been silent for {@code silentAfterMs} (hung,
 * SIGSTOPped, cut off) and when one answers. A member answers with its node name. Gateway
 * members probe each other ({@link SilentMembers}); the JVM client probes the members it sends
 * requests to ({@link io.qgagateway.client.GatewayClient}).
 *
 * <p>Why not Hazelcast's heartbeat alone: on a loaded host the heartbeats between two healthy
 * members stalled for about 4 s (measured, docs/BENCHMARKS.md section 8) while the event bus
 * between them answered within 120 ms; a failure detection short enough for the 5 s target
 * removed healthy members (a split, merged only 15 s later). So Hazelcast's detection is long
 * (it decides membership: a removed member's state is dropped) and this probe is short (it only
 * decides routing: a silent member answers 503 until it answers again, nothing is dropped).
 */
public final class PeerProbe {

  /** Who is probed and who hears the verdicts; called on the probe's event loop. */
  public interface Peers {
    /** The members to ask this round. */
    Collection<String> ids();

    /** A member has not answered since {@code sinceMillis}; said every round until it does. */
    void silent(String id, long sinceMillis);

    /**
     * A member answered, with its node name; {@code null} when nothing serves the probe there
     * (a node that is no gateway, or one whose registrations are going as it leaves).
     */
    void answered(String id, String name);

    /** A round begins; {@code late} when this process itself was paused since the last one. */
    default void round(long now, boolean late) {
    }
  }

  private final Vertx vertx;
  private final Peers peers;
  private final long silentAfterMs;
  private final long intervalMs;
  // member id -> when it last answered (or was first probed)
  private final Map<String, Long> answered = new ConcurrentHashMap<>();
  private final Set<String> asking = ConcurrentHashMap.newKeySet();
  private MessageConsumer<Object> consumer;
  private long timer = -1;
  private long lastRound;

  public PeerProbe(Vertx vertx, long silentAfterMs, Peers peers) {
    this.vertx = vertx;
    this.peers = peers;
    this.silentAfterMs = silentAfterMs;
    // five probes per silence: one lost or late reply does not make a member silent
    this.intervalMs = intervalMs(silentAfterMs);
  }

  /** How often members are asked. */
  public static long intervalMs(long silentAfterMs) {
    return Math.max(100, silentAfterMs / 5);
  }

  /** Where a member answers the probe (cluster-wide, one consumer per member). */
  public static String address(String nodeId) {
    return "qga.fleet.node." + nodeId + ".probe";
  }

  /** Answers the others' probes with this member's name; before it is named in the record. */
  Future<Void> listen(NodeIdentity self) {
    consumer = vertx.eventBus().consumer(address(self.id()), m -> {
      if (m.replyAddress() != null) {
        m.reply(self.name());
      }
    });
    return consumer.completion();
  }

  /**
   * Stops answering the others' probes (this member is stopping): a JVM client stops sending
   * it requests at its next probe; the gateway members take it as an answer.
   */
  Future<Void> mute() {
    return consumer == null ? Future.succeededFuture() : consumer.unregister();
  }

  /** Starts probing. */
  public void start() {
    timer = vertx.setPeriodic(intervalMs, id -> round(System.currentTimeMillis()));
  }

  private void round(long now) {
    // this process itself paused (a GC, a starved host, SIGSTOP): the others' answers may be
    // waiting unread or their probes timed out here; each gets a whole silence from now
    boolean late = lastRound > 0 && now - lastRound > 2 * intervalMs;
    lastRound = now;
    if (late) {
      answered.replaceAll((id, at) -> now);
    }
    peers.round(now, late);
    Set<String> ids = new HashSet<>(peers.ids());
    answered.keySet().retainAll(ids);
    for (String id : ids) {
      long last = answered.computeIfAbsent(id, k -> now);
      if (now - last >= silentAfterMs) {
        peers.silent(id, last);
      }
      if (asking.add(id)) {
        ask(id);
      }
    }
  }

  private void ask(String id) {
    vertx.eventBus().<Object>request(address(id), null,
            new DeliveryOptions().setSendTimeout(silentAfterMs))
        .onComplete(ar -> {
          asking.remove(id);
          if (ar.succeeded()) {
            answered.put(id, System.currentTimeMillis());
            Object name = ar.result().body();
            peers.answered(id, name instanceof String s ? s : null);
          } else if (ar.cause() instanceof ReplyException re
              && re.failureType() != ReplyFailure.TIMEOUT) {
            answered.put(id, System.currentTimeMillis());
            peers.answered(id, null);
          }
        });
  }

  public Future<Void> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return mute();
  }
}
