package io.qgagateway.client;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.commands.CommandCatalog;
import io.qgagateway.commands.CommandSpec;
import io.qgagateway.commands.EntryVerticle;
import io.qgagateway.commands.GuestEndpoint;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.fleet.PeerProbe;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.core.spi.cluster.ClusterManager;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The gateway's API for JVM callers that embed a clustered Vert.x (docs/API.md, "JVM callers").
 * Each request enters ONE gateway member that answers the gateway's probe, at that member's
 * entry ({@code qga.entry.<node id>}), which dispatches it as the TCP bridge does; unlike a
 * send to {@code agent.X}, which the caller's own Vert.x may hand to a member that hangs or
 * just died. So:
 * <ul>
 *   <li>a request is answered by its deadline ({@code timeoutMs}, else the command's default)
 *   plus {@link #MARGIN_MS}, with the contract's codes (504 at worst), never Vert.x's -1;</li>
 *   <li>a request outstanding on a member that leaves the cluster, or stops answering the probe
 *   for {@code silentAfterMs}, fails at once with 503 naming the member (whether it ran is then
 *   unknown: nothing is retried);</li>
 *   <li>new requests go only to members that answered the probe lately; one that nothing took
 *   (the member's entry is gone as it stops) is sent to another member once.</li>
 * </ul>
 * Failures are {@link io.vertx.core.eventbus.ReplyException}s whose {@code failureCode()} is the
 * contract's code.
 */
public final class GatewayClient {

  /** What a request may take beyond its own timeout: the hops to and from its member. */
  public static final long MARGIN_MS = 2_000;
  /** How often the cluster's member list is read: a member that leaves fails its requests. */
  static final long MEMBERSHIP_POLL_MS = 100;

  private final Vertx vertx;
  private final ClusterManager cluster;
  private final CommandCatalog catalog;
  private final long silentAfterMs;
  private final long freshMs;
  private final PeerProbe probe;
  private final Map<String, Member> members = new ConcurrentHashMap<>();
  private final AtomicInteger next = new AtomicInteger();
  private final String caller;
  private long poll = -1;

  /** A gateway member as this client knows it. */
  private static final class Member {
    final String id;
    // the name it last answered with; gateway: whether its last answer came from a gateway
    volatile String name;
    volatile boolean gateway;
    volatile long answeredAt;
    volatile boolean silent;
    final Set<Promise<JsonObject>> outstanding = ConcurrentHashMap.newKeySet();

    Member(String id) {
      this.id = id;
    }

    String describe() {
      return (name == null ? "" : name + " ") + "(" + id + ")";
    }

    void failAll(String why) {
      for (Promise<JsonObject> p : outstanding) {
        p.tryFail(Failures.of(Codes.NOT_CONNECTED, "gateway member " + describe() + " " + why
            + "; whether the request ran there is unknown"));
      }
      outstanding.clear();
    }
  }

  /**
   * A client with the standard commands' default timeouts and the gateway's default silence.
   * {@code vertx} must be clustered with the gateway members.
   */
  public static GatewayClient start(Vertx vertx) {
    return start(vertx, CommandCatalog.standard(), GatewayConfig.Cluster.DEFAULT_SILENT_AFTER_MS);
  }

  /**
   * @param catalog       the commands and their default timeouts, as the members have them
   *                      (for the members' configured {@code timeouts}: {@code withTimeouts})
   * @param silentAfterMs how long a member may leave the probe unanswered (the members'
   *                      {@code cluster.silentAfterMs})
   */
  public static GatewayClient start(Vertx vertx, CommandCatalog catalog, long silentAfterMs) {
    GatewayClient client = new GatewayClient(vertx, catalog, silentAfterMs);
    client.poll = vertx.setPeriodic(MEMBERSHIP_POLL_MS, id -> client.membership());
    client.probe.start();
    return client;
  }

  private GatewayClient(Vertx vertx, CommandCatalog catalog, long silentAfterMs) {
    if (!(vertx instanceof VertxInternal internal) || internal.clusterManager() == null) {
      throw new IllegalArgumentException("GatewayClient needs a clustered Vert.x");
    }
    this.vertx = vertx;
    this.cluster = internal.clusterManager();
    this.catalog = catalog;
    this.silentAfterMs = silentAfterMs;
    // a member that missed the last two probes is avoided while others answer
    this.freshMs = 2 * PeerProbe.intervalMs(silentAfterMs) + 100;
    this.caller = "jvm:" + cluster.getNodeId();
    this.probe = new PeerProbe(vertx, silentAfterMs, new Probed());
  }

  /**
   * Sends a request for a public address ({@code agent.ping}, {@code agent.guests}, ...) with a
   * body as in API.md section 2 ({@code guest}, {@code arguments}, {@code timeoutMs}).
   */
  public Future<JsonObject> request(String address, JsonObject body) {
    return request(address, body, true);
  }

  /** @param retry whether to try another member when nothing took the request at this one */
  private Future<JsonObject> request(String address, JsonObject body, boolean retry) {
    Member member = pick();
    if (member == null) {
      return Failures.fail(Codes.NOT_CONNECTED, "no gateway member answers");
    }
    Promise<JsonObject> answer = Promise.promise();
    member.outstanding.add(answer);
    DeliveryOptions options = new DeliveryOptions().setSendTimeout(timeoutMs(address, body)
            + MARGIN_MS)
        .addHeader(EntryVerticle.ADDRESS_HEADER, address)
        .addHeader(GuestEndpoint.CALLER_HEADER, caller);
    vertx.eventBus().<JsonObject>request(Addresses.entry(member.id), body, options)
        .map(Message::body)
        .onComplete(ar -> {
          member.outstanding.remove(answer);
          if (ar.succeeded()) {
            answer.tryComplete(ar.result());
          } else if (retry && ar.cause() instanceof ReplyException re
              && re.failureType() == ReplyFailure.NO_HANDLERS) {
            // nothing ran: the member is stopping (its entry is gone); another one takes it
            member.gateway = false;
            request(address, body, false).onComplete(answer);
          } else {
            answer.tryFail(Failures.normalize(ar.cause()));
          }
        });
    return answer.future();
  }

  /** Stops probing; outstanding requests still get their answers. */
  public Future<Void> close() {
    vertx.cancelTimer(poll);
    return probe.stop();
  }

  /** The request's own timeout, else its command's default (the member answers by then). */
  private long timeoutMs(String address, JsonObject body) {
    Object own = body == null ? null : body.getValue("timeoutMs");
    if (own instanceof Number n && n.longValue() > 0) {
      return Math.min(n.longValue(), CommandCatalog.MAX_TIMEOUT_MS);
    }
    String suffix = address.startsWith(Addresses.PUBLIC_PREFIX)
        ? address.substring(Addresses.PUBLIC_PREFIX.length()) : address;
    // an unknown command is refused at once; a listing answers within its own bound
    return catalog.byAddress(suffix).map(CommandSpec::timeoutMs).orElse(10_000L);
  }

  /** A member that answered lately, in turn; one that answered within the silence if none. */
  private Member pick() {
    long now = System.currentTimeMillis();
    List<Member> live = members.values().stream()
        .filter(m -> m.gateway && !m.silent).toList();
    List<Member> fresh = live.stream().filter(m -> now - m.answeredAt <= freshMs).toList();
    List<Member> from = fresh.isEmpty() ? live : fresh;
    return from.isEmpty() ? null : from.get(Math.floorMod(next.getAndIncrement(), from.size()));
  }

  private void membership() {
    Set<String> nodes = Set.copyOf(cluster.getNodes());
    members.values().removeIf(m -> {
      if (nodes.contains(m.id)) {
        return false;
      }
      m.failAll("left the cluster");
      return true;
    });
  }

  /** The probe's verdicts on the cluster's nodes. */
  private final class Probed implements PeerProbe.Peers {
    @Override
    public Collection<String> ids() {
      return cluster.getNodes();
    }

    @Override
    public void silent(String id, long sinceMillis) {
      Member m = members.get(id);
      if (m != null && m.gateway) {
        m.silent = true;
        m.failAll("has not answered for " + (System.currentTimeMillis() - sinceMillis) + " ms");
      }
    }

    @Override
    public void answered(String id, String name) {
      if (!cluster.getNodes().contains(id)) {
        return;
      }
      Member m = members.computeIfAbsent(id, Member::new);
      // null: no gateway there (another caller, or a member on its way out)
      m.gateway = name != null;
      if (name != null) {
        m.name = name;
      }
      m.answeredAt = System.currentTimeMillis();
      m.silent = false;
    }
  }
}
