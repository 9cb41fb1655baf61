package io.qgagateway.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.qgagateway.fleet.FleetView;
import io.qgagateway.fleet.LocalGuests;
import io.qgagateway.link.LinkState;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Exports the state of this member's guests (METRICS.md: {@code qga_guests} by state,
 * {@code qga_queue_depth}, {@code qga_frozen_guests}) for as long as the gateway runs. The
 * gauges are read at scrape time from the links themselves, so they cost nothing per command;
 * {@code GET /metrics} serves them with {@link GatewayMetrics}' counters and Vert.x's and the
 * JVM's meters.
 */
public final class MetricsVerticle extends VerticleBase {

  private static final long MEMBERS_REFRESH_MS = 1_000;

  private final MeterRegistry registry;
  private final FleetView view;
  private final LocalGuests guests;
  private MultiGauge memberUp;
  private long refresh = -1;
  private static final List<String> REPLY_MATCHING = List.of("id", "order");
  private final List<Meter> gauges = new ArrayList<>();

  public MetricsVerticle(MeterRegistry registry, FleetView view) {
    this.registry = registry;
    this.view = view;
    this.guests = view.local();
  }

  @Override
  public Future<?> start() {
    for (LinkState state : LinkState.values()) {
      gauges.add(Gauge.builder("qga.guests", guests, g -> count(g, state))
          .description("guests held by this node, by link state")
          .tag("state", state.label())
          .register(registry));
    }
    gauges.add(Gauge.builder("qga.queue.depth", guests, MetricsVerticle::queued)
        .description("commands waiting, all guests of this node").register(registry));
    gauges.add(Gauge.builder("qga.frozen.guests", guests, MetricsVerticle::frozen)
        .description("guests whose filesystems are frozen").register(registry));
    for (String mode : REPLY_MATCHING) {
      gauges.add(Gauge.builder("qga.reply.matching.guests", guests, g -> matching(g, mode))
          .description("guests in sync, by how replies are matched to requests: id (the agent"
              + " echoes request ids) or order (older agents)")
          .tag("mode", mode)
          .register(registry));
    }
    gauges.add(Gauge.builder("qga.cluster.members", view, v -> 1 + v.livePeers())
        .description("gateway members of the cluster that answer this member, itself included")
        .register(registry));
    for (boolean reachable : List.of(true, false)) {
      gauges.add(Gauge.builder("qga.cluster.remote.guests", view, v -> v.remoteGuests(reachable))
          .description("guests of other members in this member's fleet view (a guest once per "
              + "holder); reachable=false: their holder left the cluster within the retention or "
              + "does not answer")
          .tag("reachable", Boolean.toString(reachable))
          .register(registry));
    }
    gauges.add(Gauge.builder("qga.guest.name.conflicts", view, FleetView::conflicts)
        .description("guests of this member whose name another live member also holds")
        .register(registry));
    memberUp = MultiGauge.builder("qga.cluster.member.up")
        .description("1 for this member itself, 0 for each gateway member that left the cluster"
            + " within the retention or does not answer (label member: its node name)")
        .register(registry);
    refreshMembers();
    refresh = vertx.setPeriodic(MEMBERS_REFRESH_MS, id -> refreshMembers());
    return Future.succeededFuture();
  }

  /** This member up, and those that left down, by node name. */
  private void refreshMembers() {
    List<MultiGauge.Row<?>> rows = new ArrayList<>();
    Set<String> named = new HashSet<>();
    named.add(view.self().name());
    rows.add(MultiGauge.Row.of(Tags.of("member", view.self().name()), 1));
    for (FleetView.Node n : view.nodes()) {
      if (!n.live() && n.gateway() && named.add(n.name())) {
        rows.add(MultiGauge.Row.of(Tags.of("member", n.name()), 0));
      }
    }
    memberUp.register(rows, true);
  }

  /** A stopped member exports no guests rather than the last state it saw. */
  @Override
  public Future<?> stop() {
    if (refresh >= 0) {
      vertx.cancelTimer(refresh);
    }
    gauges.forEach(registry::remove);
    gauges.clear();
    if (memberUp != null) {
      memberUp.register(List.of(), true);
    }
    return Future.succeededFuture();
  }

  private static double count(LocalGuests guests, LinkState state) {
    int n = 0;
    for (LinkVerticle v : guests.all()) {
      if (v.link() != null && v.link().state() == state) {
        n++;
      }
    }
    return n;
  }

  private static double matching(LocalGuests guests, String mode) {
    int n = 0;
    for (LinkVerticle v : guests.all()) {
      if (v.link() != null && mode.equals(v.link().replyMatching())) {
        n++;
      }
    }
    return n;
  }

  private static double queued(LocalGuests guests) {
    long n = 0;
    for (LinkVerticle v : guests.all()) {
      if (v.link() != null) {
        n += v.link().queued();
      }
    }
    return n;
  }

  private static double frozen(LocalGuests guests) {
    int n = 0;
    for (LinkVerticle v : guests.all()) {
      if (v.endpoint() != null && v.endpoint().frozen()) {
        n++;
      }
    }
    return n;
  }
}
