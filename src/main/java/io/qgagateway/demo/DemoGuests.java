package io.qgagateway.demo;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.sim.SimulatedAgent;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The embedded default that shows the gateway working without VMs: {@code demo.simulated}
 * simulated agents ({@code sim-1}, {@code sim-2}, ...) and, with {@code demo.hostAgent}, this
 * host's real qemu-ga as {@code host}, sandboxed (see {@link HostAgent}) and restarted if it
 * exits. Sockets live in a fresh temporary directory.
 */
public final class DemoGuests {

  private static final Logger log = LoggerFactory.getLogger(DemoGuests.class);
  private static final long SUPERVISE_MS = 2_000;

  private final Vertx vertx;
  private final List<GuestTarget> targets = new ArrayList<>();
  private final List<SimulatedAgent> simulated = new ArrayList<>();
  private HostAgent host;
  private long supervisor = -1;

  private DemoGuests(Vertx vertx) {
    this.vertx = vertx;
  }

  public static Future<DemoGuests> start(Vertx vertx, GatewayConfig.Demo config) {
    DemoGuests demo = new DemoGuests(vertx);
    if (config.simulated() == 0 && !config.hostAgent()) {
      return Future.succeededFuture(demo);
    }
    return vertx.executeBlocking(() -> Files.createTempDirectory("qga-demo-"))
        .compose(dir -> demo.startSimulated(dir, config.simulated())
            .compose(v -> config.hostAgent() ? demo.startHost(dir) : Future.succeededFuture()))
        .map(demo);
  }

  public List<GuestTarget> targets() {
    return List.copyOf(targets);
  }

  private Future<Void> startSimulated(Path dir, int count) {
    List<Future<?>> listening = new ArrayList<>();
    for (int i = 1; i <= count; i++) {
      String name = "sim-" + i;
      String socket = dir.resolve(name + ".sock").toString();
      // no history of received requests: nothing reads it here, and it would keep the
      // payload of every file write (10,000 requests by default) in the gateway's heap
      SimulatedAgent agent = new SimulatedAgent(vertx, name,
          SimulatedAgent.Options.DEFAULTS.withHistoryLimit(0));
      simulated.add(agent);
      targets.add(GuestTarget.unix(name, socket));
      listening.add(agent.listenUnix(socket));
    }
    return Future.all(listening).mapEmpty();
  }

  private Future<Void> startHost(Path dir) {
    if (HostAgent.find().isEmpty()) {
      log.warn("demo.hostAgent: qemu-ga is not installed (Debian: apt-get install "
          + "qemu-guest-agent); running without the host guest");
      return Future.succeededFuture();
    }
    return vertx.executeBlocking(() -> HostAgent.start(dir.resolve("host"), false, List.of()))
        .onSuccess(agent -> {
          host = agent;
          targets.add(GuestTarget.unix("host", agent.socket().toString()));
          supervisor = vertx.setPeriodic(SUPERVISE_MS, id -> vertx.executeBlocking(() -> {
            agent.ensureRunning();
            return null;
          }, false));
        })
        .onFailure(e -> log.warn("demo.hostAgent: " + e.getMessage()))
        .<Void>mapEmpty()
        .recover(e -> Future.succeededFuture());
  }

  public Future<Void> stop() {
    if (supervisor >= 0) {
      vertx.cancelTimer(supervisor);
    }
    List<Future<?>> closing = new ArrayList<>();
    simulated.forEach(a -> closing.add(a.close()));
    if (host != null) {
      closing.add(vertx.executeBlocking(() -> {
        host.stop();
        return null;
      }));
    }
    return Future.join(closing).mapEmpty();
  }
}
