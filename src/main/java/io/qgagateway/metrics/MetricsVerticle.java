package io.qgagateway.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.qgagateway.fleet.LocalGuests;
import io.qgagateway.link.LinkState;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;

import java.util.ArrayList;
import java.util.List;

/**
 * Exports the state of this member's guests (METRICS.md: {@code qga_guests} by state,
 * {@code qga_queue_depth}, {@code qga_frozen_guests}) for as long as the gateway runs. The
 * gauges are read at scrape time from the links themselves, so they cost nothing per command;
 * {@code GET /metrics} serves them with {@link GatewayMetrics}' counters and Vert.x's and the
 * JVM's meters.
 */
public final class MetricsVerticle extends VerticleBase {

  private final MeterRegistry registry;
  private final LocalGuests guests;
  private static final List<String> REPLY_MATCHING = List.of("id", "order");
  private final List<Meter> gauges = new ArrayList<>();

  public MetricsVerticle(MeterRegistry registry, LocalGuests guests) {
    this.registry = registry;
    this.guests = guests;
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
    return Future.succeededFuture();
  }

  /** A stopped member exports no guests rather than the last state it saw. */
  @Override
  public Future<?> stop() {
    gauges.forEach(registry::remove);
    gauges.clear();
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
