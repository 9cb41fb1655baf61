package io.qgagateway.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.qgagateway.api.Outcome;
import io.qgagateway.link.DiscardKind;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.LinkObserver;
import io.qgagateway.link.ResyncReason;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The event metrics of METRICS.md (latency, resyncs, discards, connects, auto-thaws); the state
 * gauges are {@link MetricsVerticle}'s. The per-guest label is off unless configured, as a node
 * may hold 10,000 guests.
 */
public final class GatewayMetrics implements LinkObserver {

  /**
   * Agent latencies run from ~50 µs (host-local agent) through ~0.5 ms (virtio-serial) to
   * minutes (fstrim, freeze): fixed buckets a dashboard can rely on, 22 per series.
   */
  private static final Duration[] BUCKETS = Stream.of(
          "PT0.00005S", "PT0.0001S", "PT0.00025S", "PT0.0005S", "PT0.001S", "PT0.0025S",
          "PT0.005S", "PT0.01S", "PT0.025S", "PT0.05S", "PT0.1S", "PT0.25S", "PT0.5S", "PT1S",
          "PT2.5S", "PT5S", "PT10S", "PT30S", "PT60S", "PT120S", "PT300S", "PT600S")
      .map(Duration::parse).toArray(Duration[]::new);
  private static final int OUTCOMES = Outcome.values().length;

  private final MeterRegistry registry;
  private final boolean guestLabel;
  private final Counter connects;
  private final Counter disconnects;
  private final Counter autoThaws;
  private final Counter[] refusals = new Counter[Refusal.values().length];
  // reason and principal -> counter; principals are bounded by the configuration (tokens,
  // certificates and JWT subjects allowed in)
  private final Map<String, Counter> denials = new ConcurrentHashMap<>();
  // command (and guest, when labelled) -> timer by outcome ordinal
  private final Map<String, Timer[]> commandTimers = new ConcurrentHashMap<>();

  public GatewayMetrics(MeterRegistry registry, boolean guestLabel) {
    this.registry = registry;
    this.guestLabel = guestLabel;
    this.connects = Counter.builder("qga.connects").description("agent sockets opened")
        .register(registry);
    this.disconnects = Counter.builder("qga.disconnects").description("agent sockets lost")
        .register(registry);
    this.autoThaws = Counter.builder("qga.auto.thaws")
        .description("thaws done by the gateway because no thaw came in time")
        .register(registry);
    for (Refusal r : Refusal.values()) {
      refusals[r.ordinal()] = Counter.builder("qga.refused.requests")
          .description("messages to agent.* that ran nothing because nobody could be answered:"
              + " publishes, and sends without a reply address")
          .tag("reason", r.label)
          .register(registry);
    }
    if (!guestLabel) {
      // the label values dashboards expect read 0 rather than nothing (with a guest label there
      // is no guest to give them yet)
      for (ResyncReason reason : ResyncReason.values()) {
        resyncCounter(reason, null);
      }
      for (DiscardKind kind : DiscardKind.values()) {
        discardCounter(kind, null);
      }
    }
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** One request, from entering the gateway to its reply. */
  public void commandDone(String command, String guest, Outcome outcome, long nanos) {
    String g = guestLabel ? (guest == null ? "" : guest) : null;
    // on every request: no tags, ids or key strings to build once the series exists
    Timer[] byOutcome = commandTimers.computeIfAbsent(g == null ? command : command + '\0' + g,
        k -> new Timer[OUTCOMES]);
    Timer timer = byOutcome[outcome.ordinal()];
    if (timer == null) {
      // a race registers the same meter twice: Micrometer returns the one that exists
      Tags tags = Tags.of("command", command, "outcome", outcome.label());
      timer = Timer.builder("qga.command.duration")
          .description("time from a request entering the gateway to its reply")
          .tags(g == null ? tags : tags.and("guest", g))
          .serviceLevelObjectives(BUCKETS)
          .register(registry);
      byOutcome[outcome.ordinal()] = timer;
    }
    timer.record(nanos, TimeUnit.NANOSECONDS);
  }

  /** Why a message to {@code agent.*} ran nothing: it could not be answered. */
  public enum Refusal {
    PUBLISH("publish"), NO_REPLY("no_reply_address");

    private final String label;

    Refusal(String label) {
      this.label = label;
    }
  }

  /** One message to {@code agent.*} that ran nothing (counted once per member it reached). */
  public void refused(Refusal reason) {
    refusals[reason.ordinal()].increment();
  }

  /** Why a request was refused to its caller (docs/SECURITY.md). */
  public enum Denial {
    UNAUTHENTICATED("unauthenticated"), NO_CREDENTIALS("no_credentials"),
    IDENTITY_HEADER("identity_header"), INVALID_PRINCIPAL("invalid_principal"),
    POLICY("policy"), NOT_GRANTED("not_granted"), RATE_LIMITED("rate_limited");

    private final String label;

    Denial(String label) {
      this.label = label;
    }
  }

  /** One refused request; {@code principal} null when none was established. */
  public void denied(Denial reason, String principal) {
    String who = principal == null ? "" : principal;
    denials.computeIfAbsent(reason.label + '\0' + who, k -> Counter.builder("qga.denied")
            .description("requests refused to their caller: not authenticated, not granted, "
                + "over a rate limit, or outside the policy")
            .tags("reason", reason.label, "principal", who)
            .register(registry))
        .increment();
  }

  public void autoThawed() {
    autoThaws.increment();
  }

  @Override
  public void connected(AgentChannel link) {
    connects.increment();
  }

  @Override
  public void disconnected(AgentChannel link, String reason) {
    disconnects.increment();
  }

  @Override
  public void resynced(AgentChannel link, ResyncReason reason, long nanos) {
    resyncCounter(reason, link.name()).increment();
    Timer.builder("qga.sync.duration")
        .description("time of one guest-sync-delimited exchange")
        .serviceLevelObjectives(BUCKETS)
        .register(registry)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void discarded(AgentChannel link, DiscardKind kind) {
    discardCounter(kind, link.name()).increment();
  }

  private Counter resyncCounter(ResyncReason reason, String guest) {
    return Counter.builder("qga.resyncs").description("sentinel resyncs performed")
        .tags(withGuest(Tags.of("reason", reason.metricLabel()), guest))
        .register(registry);
  }

  private Counter discardCounter(DiscardKind kind, String guest) {
    return Counter.builder("qga.discarded")
        .description("agent output dropped while syncing or as unsolicited")
        .tags(withGuest(Tags.of("kind", kind.label()), guest))
        .register(registry);
  }

  private Tags withGuest(Tags tags, String guest) {
    return guestLabel && guest != null ? tags.and("guest", guest) : tags;
  }
}
