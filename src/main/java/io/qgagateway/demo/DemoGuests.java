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
 * host's real qemu-ga as {@code host}; in a cluster prefixed with the node name
 * ({@code hv-1-sim-1}), so two demo members never collide. The host agent runs sandboxed (see
 * {@link HostAgent}) and is restarted if it exits. Sockets live in a fresh temporary directory.
 */
public final class DemoGuests {

  private static final Logger log = LoggerFactory.getLogger(DemoGuests.class);
  private static final long SUPERVISE_MS = 2_000;

  private final Vertx vertx;
  private final List<GuestTarget> targets = new ArrayList<>();
  private final List<SimulatedAgent> simulated = new ArrayList<>();
  private HostAgent host;
  private long supervisor = -1;
  private String prefix = "";

  private DemoGuests(Vertx vertx) {
    this.vertx = vertx;
  }

  public static Future<DemoGuests> start(Vertx vertx, GatewayConfig.Demo config) {
    return start(vertx, config, null);
  }

  /**
   * @param node the member's node name when clustered, else null: then the guests are named
   *             {@code <node>-sim-1}, {@code <node>-host}, so the demo guests of two members
   *             never share a name
   */
  public static Future<DemoGuests> start(Vertx vertx, GatewayConfig.Demo config, String node) {
    DemoGuests demo = new DemoGuests(vertx);
    demo.prefix = prefix(node);
    if (config.simulated() == 0 && !config.hostAgent()) {
      return Future.succeededFuture(demo);
    }
    return vertx.executeBlocking(() -> Files.createTempDirectory("qga-demo-"))
        .compose(dir -> demo.startSimulated(dir, config.simulated())
            .compose(v -> config.hostAgent() ? demo.startHost(dir) : Future.succeededFuture()))
        .map(demo);
  }

  /** A node name as the start of a guest name: {@code [A-Za-z0-9][A-Za-z0-9._-]*} and a dash. */
  static String prefix(String node) {
    if (node == null || node.isEmpty()) {
      return "";
    }
    String safe = node.replaceAll("[^A-Za-z0-9._-]", "-");
    if (!Character.isLetterOrDigit(safe.charAt(0))) {
      safe = "n" + safe;
    }
    // leave room for "-sim-100000" within the 128 characters of a guest name
    return (safe.length() > 100 ? safe.substring(0, 100) : safe) + "-";
  }

  public List<GuestTarget> targets() {
    return List.copyOf(targets);
  }

  private Future<Void> startSimulated(Path dir, int count) {
    List<Future<?>> listening = new ArrayList<>();
    for (int i = 1; i <= count; i++) {
      String name = prefix + "sim-" + i;
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
          targets.add(GuestTarget.unix(prefix + "host", agent.socket().toString()));
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
