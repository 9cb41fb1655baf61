package io.qgagateway;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.auth.AccessRules;
import io.qgagateway.auth.Authenticator;
import io.qgagateway.commands.CommandCatalog;
import io.qgagateway.commands.CommandRules;
import io.qgagateway.commands.CommandVerticle;
import io.qgagateway.commands.GuestEndpoint;
import io.qgagateway.commands.Policy;
import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.demo.DemoGuests;
import io.qgagateway.fleet.FleetStore;
import io.qgagateway.fleet.FleetVerticle;
import io.qgagateway.fleet.FleetView;
import io.qgagateway.fleet.GuestEvents;
import io.qgagateway.fleet.GuestManager;
import io.qgagateway.fleet.LocalGuests;
import io.qgagateway.fleet.NodeIdentity;
import io.qgagateway.http.BridgeVerticle;
import io.qgagateway.http.EntryGuard;
import io.qgagateway.http.Health;
import io.qgagateway.http.HttpApiVerticle;
import io.qgagateway.libvirt.Hypervisor;
import io.qgagateway.libvirt.JnaHypervisor;
import io.qgagateway.libvirt.LibvirtHost;
import io.qgagateway.libvirt.LibvirtPresence;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.metrics.GatewayMetrics;
import io.qgagateway.metrics.MetricsVerticle;
import io.vertx.core.Deployable;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * One gateway member on a Vert.x instance: the verticles of the architecture, deployed in
 * order and stopped in reverse, so a stop takes no new requests, lets those under way finish,
 * thaws frozen guests and closes the sockets.
 */
public final class Gateway {

  private static final Logger log = LoggerFactory.getLogger(Gateway.class);

  private final Vertx vertx;
  private final NodeIdentity node;
  private final Health health;
  private final CommandRules rules;
  private final FleetView view;
  private final FleetStore store;
  private final GatewayMetrics metrics;
  private final PrometheusMeterRegistry prometheus;
  private final List<String> deployments = new ArrayList<>();
  private final LibvirtPresence.Decision libvirt;
  private GatewayConfig config;
  private LibvirtHost libvirtHost;
  private Hypervisor hypervisor;
  private GuestManager guests;
  private HttpApiVerticle http;
  private BridgeVerticle bridge;
  private DemoGuests demo;
  private Authenticator authenticator;

  private Gateway(Vertx vertx, GatewayConfig config, MeterRegistry registry, Health health,
                  LibvirtPresence.Decision libvirt) {
    this.vertx = vertx;
    this.libvirt = libvirt;
    this.config = config;
    this.health = health;
    String id = vertx.isClustered()
        ? ((VertxInternal) vertx).clusterManager().getNodeId() : UUID.randomUUID().toString();
    this.node = new NodeIdentity(id, config.nodeName());
    this.rules = rules(config);
    this.view = new FleetView(node, new LocalGuests(),
        config.cluster().unreachableRetentionMs());
    this.store = FleetStore.of(vertx, view, config.cluster().silentAfterMs());
    health.peers(view::livePeers, vertx.isClustered() ? config.cluster().minPeers() : 0);
    this.metrics = new GatewayMetrics(registry, config.metrics().guestLabel());
    this.prometheus = config.metrics().enabled() && registry instanceof PrometheusMeterRegistry p
        ? p : null;
  }

  /** Checks the parts of a configuration that need the catalog (policy names, timeouts). */
  public static CommandRules rules(GatewayConfig config) {
    CommandCatalog catalog;
    Policy policy;
    try {
      Map<String, Long> timeouts = new HashMap<>();
      for (String key : config.timeouts().fieldNames()) {
        if (!(config.timeouts().getValue(key) instanceof Number n)
            || n.longValue() != n.doubleValue()) {
          throw new IllegalArgumentException("timeouts." + key + ": expected milliseconds");
        }
        timeouts.put(key, n.longValue());
      }
      catalog = CommandCatalog.standard().withTimeouts(timeouts);
      policy = Policy.fromConfig(catalog, config.policy());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
    return new CommandRules(catalog, policy, AccessRules.of(config.auth()));
  }

  public static Future<Gateway> start(Vertx vertx, GatewayConfig config, MeterRegistry registry,
                                      Health health) {
    Gateway gateway;
    try {
      gateway = new Gateway(vertx, config, registry, health, LibvirtPresence.decide(config));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return gateway.deploy().map(gateway);
  }

  /**
   * Starts with the libvirt backend on the given hypervisor (tests: a fake), whatever this
   * machine has.
   */
  public static Future<Gateway> start(Vertx vertx, GatewayConfig config, MeterRegistry registry,
                                      Health health, Hypervisor hypervisor) {
    Gateway gateway;
    try {
      gateway = new Gateway(vertx, config, registry, health, new LibvirtPresence.Decision(
          hypervisor.uri(), null, null, true));
      gateway.hypervisor = hypervisor;
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return gateway.deploy().map(gateway);
  }

  /** The backends in use, for the start-up line: {@code socket} and/or {@code libvirt URI}. */
  public String backends() {
    return libvirt.useLibvirt() ? "socket, libvirt " + libvirt.uri() : "socket";
  }

  public NodeIdentity node() {
    return node;
  }

  public FleetView fleet() {
    return view;
  }

  public GatewayMetrics metrics() {
    return metrics;
  }

  /** The request-body bytes HTTP requests hold now (http.maxInFlightBodyBytes), 0 when off. */
  public long httpBodyBytesInFlight() {
    return http == null ? 0 : http.bodyBytesInFlight();
  }

  /** The bridge's port bound, or -1 when the bridge is off. */
  public int bridgePort() {
    return bridge == null ? -1 : bridge.port();
  }

  /** The HTTP port bound, or -1 when HTTP is off. */
  public int httpPort() {
    return http == null ? -1 : http.port();
  }

  private Future<Void> deploy() {
    try {
      vertx.eventBus().registerDefaultCodec(GatewayFailure.class, GatewayFailure.CODEC);
    } catch (IllegalStateException alreadyRegistered) {
      // another gateway on this Vert.x instance (tests) registered it
    }
    GuestEvents events = new GuestEvents(vertx, node);
    if (libvirt.useLibvirt()) {
      libvirtHost = new LibvirtHost(hypervisor != null ? hypervisor
          : new JnaHypervisor(libvirt.uri(), config.libvirt().connections()), config.libvirt(),
          libvirtListener());
    }
    LibvirtHost host = libvirtHost;
    guests = new GuestManager(view, events.andThen(metrics), link -> new GuestEndpoint(vertx,
        link, rules, events, metrics, config.autoThawMs(), config.thawForeign(),
        config.fileMaxBytes()), host == null ? null : host::channels);
    // clustered, the demo's guests carry the node name: two demo members never collide
    Future<List<GuestTarget>> demoTargets = DemoGuests.start(vertx, config.demo(),
            vertx.isClustered() ? node.name() : null)
        .map(d -> {
          demo = d;
          return d.targets();
        });
    return demoTargets
        .compose(extra -> deploy(new MetricsVerticle(metrics.registry(), view))
            .compose(v -> deploy(new FleetVerticle(view, store, rules::access,
                config.cluster().listingTimeoutMs())))
            // before the guests, so it stops after them: frozen guests are thawed through it
            .compose(v -> host == null ? Future.succeededFuture() : deploy(host))
            .compose(v -> deploy(guests))
            .compose(v -> guests.update(config, extra)))
        .compose(v -> {
          AtomicInteger instance = new AtomicInteger();
          return deploy(() -> new CommandVerticle(rules, view, metrics, config.drainMs(),
              instance.getAndIncrement() == 0), new DeploymentOptions().setInstances(eventLoops()));
        })
        .compose(v -> Authenticator.start(vertx, config))
        .compose(started -> {
          authenticator = started;
          List<EntryGuard> guards = new ArrayList<>();
          health.auth(() -> guards.stream().map(EntryGuard::problem)
              .filter(java.util.Objects::nonNull).findFirst().orElse(null));
          if (!config.http().enabled()) {
            health.httpUp();
            return Future.succeededFuture(guards);
          }
          EntryGuard guard = new EntryGuard(started, metrics, "http.host", config.http().host());
          guards.add(guard);
          http = new HttpApiVerticle(config.http(), guard, rules.catalog(), prometheus, health);
          return deploy(http).map(guards);
        })
        .compose(guards -> {
          if (!config.bridge().enabled()) {
            return Future.succeededFuture();
          }
          EntryGuard guard = new EntryGuard(authenticator, metrics, "bridge.host",
              config.bridge().host());
          guards.add(guard);
          bridge = new BridgeVerticle(config.bridge(), guard, rules.catalog(), metrics);
          return deploy(bridge);
        })
        .onSuccess(v -> health.configLoaded());
  }

  /** Where the libvirt host's domains go: the guest manager and the list of stopped ones. */
  private LibvirtHost.Listener libvirtListener() {
    return new LibvirtHost.Listener() {
      @Override
      public void targets(List<GuestTarget> targets) {
        guests.libvirtTargets(targets);
      }

      @Override
      public void stopped(LibvirtHost.Stopped stopped) {
        view.local().putStopped(stopped.name(), LibvirtHost.describe(stopped, libvirt.uri()));
      }

      @Override
      public void forgotten(String name) {
        view.local().removeStopped(name);
      }
    };
  }

  /**
   * Applies an edited configuration: guests, policy, timeouts, grants, rate limits and tokens
   * now, the rest on restart.
   */
  public void reconfigure(GatewayConfig next) {
    if (libvirt.libvirtHost()) {
      // never open a socket libvirt owns, whatever the edit says
      LibvirtPresence.refuseOwnedSockets(next, libvirt);
    }
    CommandRules checked = rules(next);
    rules.replace(checked);
    authenticator.reconfigure(next);
    if (!next.http().equals(config.http()) || !next.bridge().equals(config.bridge())
        || !next.cluster().equals(config.cluster()) || !next.demo().equals(config.demo())
        || !next.vertx().equals(config.vertx()) || !next.libvirt().equals(config.libvirt())
        || Authenticator.restartNeeded(config.auth(), next.auth())) {
      log.warn("http, bridge, cluster, demo, vertx, libvirt and auth.tokensFile/reloadMs/jwt/"
          + "certificates changes take effect at the next restart");
    }
    GatewayConfig applied = next;
    config = next;
    List<GuestTarget> extra = demo == null ? List.of() : demo.targets();
    guests.update(applied, extra);
  }

  /** Graceful stop: not ready, no new requests, drain, thaw and close guests, stop the demo. */
  public Future<Void> stop() {
    health.draining();
    // the guests stay in the fleet record: once this member has left they are unreachable
    // (503) for the retention, not unknown (404)
    store.stopPublishing();
    List<String> reversed = new ArrayList<>(deployments);
    Collections.reverse(reversed);
    // event-bus callers elsewhere stop choosing this member before its handlers go: a request
    // they hand it is answered, not lost with the process
    Future<Void> chain = store.withdraw();
    for (String id : reversed) {
      chain = chain.transform(ar -> vertx.undeploy(id));
    }
    if (authenticator != null) {
      chain = chain.onComplete(ar -> authenticator.close());
    }
    return chain.transform(ar -> demo == null ? Future.succeededFuture() : demo.stop());
  }

  private Future<Void> deploy(Deployable verticle) {
    return deploy(() -> verticle, new DeploymentOptions());
  }

  private Future<Void> deploy(Supplier<Deployable> verticles, DeploymentOptions options) {
    return vertx.deployVerticle(verticles, options).map(id -> {
      deployments.add(id);
      return null;
    });
  }

  /**
   * One command verticle per event loop: requests spread over all of them, and one that lands
   * on the loop of its guest's link is served without a thread hand-off.
   */
  private int eventLoops() {
    int n = 0;
    for (var ignored : ((VertxInternal) vertx).nettyEventLoopGroup()) {
      n++;
    }
    return Math.max(1, n);
  }
}
