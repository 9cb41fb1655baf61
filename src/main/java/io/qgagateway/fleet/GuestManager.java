package io.qgagateway.fleet;

import io.qgagateway.api.Addresses;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.ChannelFactory;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkEndpoint;
import io.qgagateway.link.LinkObserver;
import io.qgagateway.link.LinkOptions;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Deploys one {@link LinkVerticle} per guest this node should hold (static, discovered and
 * demo guests) and undeploys the ones that went away, whenever the configuration or a
 * directory changes.
 */
public final class GuestManager extends VerticleBase {

  private static final Logger log = LoggerFactory.getLogger(GuestManager.class);
  private static final int DEPLOY_BATCH = 256;

  private final FleetView view;
  private final LinkObserver observer;
  private final Function<AgentChannel, LinkEndpoint> endpoints;
  private final Function<LinkOptions, ChannelFactory> libvirtChannels;

  private LinkOptions linkOptions;
  // the running domains of the libvirt host, as libvirt's events keep them
  private volatile List<GuestTarget> libvirtTargets = List.of();
  private List<GuestTarget> fixed = List.of();
  private final Map<String, List<GuestTarget>> discovered = new HashMap<>();
  private final List<Long> scanTimers = new ArrayList<>();
  private final Map<String, String> deployments = new HashMap<>();
  private final Map<String, GuestTarget> deployedTargets = new HashMap<>();
  private Future<Void> reconciling = Future.succeededFuture();

  public GuestManager(FleetView view, LinkObserver observer,
                      Function<AgentChannel, LinkEndpoint> endpoints) {
    this(view, observer, endpoints, null);
  }

  /** @param libvirtChannels the channels of libvirt's domains, or null without libvirt */
  public GuestManager(FleetView view, LinkObserver observer,
                      Function<AgentChannel, LinkEndpoint> endpoints,
                      Function<LinkOptions, ChannelFactory> libvirtChannels) {
    this.view = view;
    this.observer = observer;
    this.endpoints = endpoints;
    this.libvirtChannels = libvirtChannels;
  }

  /** The libvirt host's guests now; any thread, also before this verticle is deployed. */
  public void libvirtTargets(List<GuestTarget> targets) {
    libvirtTargets = List.copyOf(targets);
    var ctx = context;
    if (ctx != null) {
      ctx.runOnContext(v -> {
        if (linkOptions != null) {
          reconcile(false);
        }
      });
    }
  }

  /**
   * Takes a (new) configuration plus guests that exist for this process only (the demo's).
   * Any thread; the work runs on this verticle's context.
   */
  public Future<Void> update(GatewayConfig config, List<GuestTarget> extra) {
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> apply(config, extra).onComplete(done));
    return done.future();
  }

  private Future<Void> apply(GatewayConfig config, List<GuestTarget> extra) {
    boolean linkChanged = linkOptions != null && !linkOptions.equals(config.link());
    linkOptions = config.link();
    List<GuestTarget> all = new ArrayList<>(config.guests());
    all.addAll(extra);
    fixed = all;
    scanTimers.forEach(vertx::cancelTimer);
    scanTimers.clear();
    discovered.clear();
    List<Future<?>> scans = new ArrayList<>();
    for (GatewayConfig.Discovery d : config.discovery()) {
      scans.add(scan(d));
      scanTimers.add(vertx.setPeriodic(d.scanIntervalMs(), id -> scan(d)
          .onSuccess(changed -> {
            if (changed) {
              reconcile(false);
            }
          })));
    }
    return Future.join(scans).transform(ar -> reconcile(linkChanged));
  }

  /** Scans one directory; succeeds with whether what it found changed. */
  private Future<Boolean> scan(GatewayConfig.Discovery d) {
    return vertx.executeBlocking(() -> DiscoveryScanner.scan(d), false)
        .map(found -> !found.equals(discovered.put(d.directory(), found)))
        .onFailure(e -> log.warn("discovery of " + d.directory() + " failed: " + e.getMessage()));
  }

  private Future<Void> reconcile(boolean redeployAll) {
    // one reconciliation at a time, so a slow undeploy never races a redeploy of the same name
    reconciling = reconciling.transform(ar -> doReconcile(redeployAll));
    return reconciling;
  }

  private Future<Void> doReconcile(boolean redeployAll) {
    Map<String, GuestTarget> desired = new LinkedHashMap<>();
    for (GuestTarget t : fixed) {
      desired.putIfAbsent(t.name(), t);
    }
    List<List<GuestTarget>> found = new ArrayList<>();
    found.add(libvirtTargets);
    found.addAll(discovered.values());
    for (List<GuestTarget> list : found) {
      for (GuestTarget t : list) {
        GuestTarget previous = desired.putIfAbsent(t.name(), t);
        if (previous != null && !previous.equals(t)) {
          log.warn("guest " + t.name() + " found at " + t.address() + " but already configured at "
              + previous.address() + "; keeping the first");
        }
      }
    }
    List<Future<?>> steps = new ArrayList<>();
    for (Map.Entry<String, GuestTarget> e : new ArrayList<>(deployedTargets.entrySet())) {
      GuestTarget want = desired.get(e.getKey());
      if (want == null || !want.equals(e.getValue()) || redeployAll) {
        steps.add(undeploy(e.getKey()));
      }
    }
    List<GuestTarget> missing = new ArrayList<>();
    for (GuestTarget t : desired.values()) {
      if (!deployments.containsKey(t.name())) {
        missing.add(t);
      }
    }
    return Future.join(steps).transform(ar -> deployInBatches(missing, 0));
  }

  /**
   * Deploys a batch, then the next once it is up: ten thousand deployments queued at once keep
   * this event loop busy for seconds, long enough for early links' syncs to time out.
   */
  private Future<Void> deployInBatches(List<GuestTarget> targets, int from) {
    if (from >= targets.size()) {
      return Future.succeededFuture();
    }
    int to = Math.min(targets.size(), from + DEPLOY_BATCH);
    List<Future<?>> batch = new ArrayList<>();
    for (GuestTarget t : targets.subList(from, to)) {
      batch.add(deploy(t));
    }
    return Future.join(batch).transform(ar -> deployInBatches(targets, to));
  }

  private Future<?> deploy(GuestTarget target) {
    ChannelFactory channels = target.transport() == GuestTarget.Transport.LIBVIRT
        ? libvirtChannels.apply(linkOptions) : ChannelFactory.socket(linkOptions);
    LinkVerticle verticle = new LinkVerticle(target, channels, observer,
        Addresses.link(view.self().id(), target.name()), endpoints);
    deployedTargets.put(target.name(), target);
    deployments.put(target.name(), "");
    return vertx.deployVerticle(verticle)
        .onSuccess(id -> {
          deployments.put(target.name(), id);
          view.local().put(target.name(), verticle);
          log.info("guest " + target.name() + " added (" + target.transport().label() + " "
              + target.address() + ")");
        })
        .onFailure(e -> {
          deployments.remove(target.name());
          deployedTargets.remove(target.name());
          log.error("guest " + target.name() + " could not be started: " + e.getMessage());
        });
  }

  private Future<?> undeploy(String name) {
    String id = deployments.remove(name);
    deployedTargets.remove(name);
    LinkVerticle verticle = view.local().get(name);
    if (verticle != null) {
      view.local().remove(name, verticle);
    }
    if (id == null || id.isEmpty()) {
      return Future.succeededFuture();
    }
    log.info("guest " + name + " removed");
    return vertx.undeploy(id);
  }

  @Override
  public Future<?> stop() {
    scanTimers.forEach(vertx::cancelTimer);
    List<Future<?>> steps = new ArrayList<>();
    for (String name : new ArrayList<>(deployments.keySet())) {
      steps.add(undeploy(name));
    }
    return Future.join(steps);
  }
}
