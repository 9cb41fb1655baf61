package io.qgagateway.bench;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import io.qgagateway.Gateway;
import io.qgagateway.sim.SimulatedAgent;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;
import io.qgagateway.fleet.FleetView;
import io.qgagateway.fleet.GatewayClusterManager;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark 4: the cluster hop. Two clustered members (Hazelcast on loopback, a cluster name of
 * its own, event bus on 127.0.0.1) in this JVM; member A holds one simulated guest. Sequential
 * {@code agent.ping}, delivered local-only to the public address of A (local) or of B (B routes
 * to A's internal address over the clustered event bus and the reply comes back the same way).
 * {@code mvn -B -q test -Pbench -Dtest=ClusterHopBench [-Dbench.iterations=5000]
 * [-Dbench.warmup=2000]}
 */
@Tag("bench")
class ClusterHopBench {

  @TempDir
  Path dir;

  @Test
  void clusterHop() throws Exception {
    int iterations = BenchSupport.intProp("bench.iterations", 5_000);
    int warmup = BenchSupport.intProp("bench.warmup", 2_000);
    BenchSupport.Report report = new BenchSupport.Report("cluster-hop");
    report.format("two clustered members in one JVM, one simulated guest held by A; %d pings "
        + "after %d warm-up per phase, one caller, sequential", iterations, warmup);
    Vertx agents = BenchSupport.vertx();
    Vertx a = null;
    Vertx b = null;
    try {
      SimulatedAgent agent = new SimulatedAgent(agents, "sim-0",
          SimulatedAgent.Options.DEFAULTS.withHistoryLimit(0));
      Path socket = dir.resolve("sim-0.sock");
      agent.listenUnix(socket.toString()).await(10, TimeUnit.SECONDS);

      int port = 15701 + ThreadLocalRandom.current().nextInt(2000);
      String clusterName = "qga-bench-" + UUID.randomUUID();
      long t0 = System.nanoTime();
      a = member(port, clusterName);
      long firstMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      t0 = System.nanoTime();
      b = member(port, clusterName);
      report.format("members up: A in %d ms, B in %d ms (Hazelcast ports from %d)", firstMs,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), port);

      Gateway ga = BenchSupport.start(a, BenchSupport.config(new JsonArray().add(new JsonObject()
          .put("name", "sim-0").put("socket", socket.toString()))).put("node",
          new JsonObject().put("name", "A")));
      Gateway gb = BenchSupport.start(b, BenchSupport.config(null).put("node",
          new JsonObject().put("name", "B")));
      if (BenchSupport.awaitInSync(ga, 1, 15_000) < 0) {
        throw new AssertionError("guest not in sync on A");
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      while (!(gb.fleet().route("sim-0") instanceof FleetView.Remote)
          && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      report.line("B routes sim-0 to " + gb.fleet().route("sim-0") + "; A is "
          + ga.node().id());

      JsonObject body = new JsonObject().put("guest", "sim-0");
      DeliveryOptions localOnly = new DeliveryOptions().setLocalOnly(true).setSendTimeout(10_000);
      Vertx va = a;
      Vertx vb = b;
      Context ca = a.getOrCreateContext();
      Context cb = b.getOrCreateContext();
      BenchSupport.Histogram local1 = PingOverheadBench.sequential(ca, warmup, iterations,
          () -> va.eventBus().request("agent.ping", body, localOnly).mapEmpty());
      report.line("local (enters A, guest on A): " + local1.summary());
      BenchSupport.Histogram remote = PingOverheadBench.sequential(cb, warmup, iterations,
          () -> vb.eventBus().request("agent.ping", body, localOnly).mapEmpty());
      report.line("remote (enters B, guest on A): " + remote.summary());
      BenchSupport.Histogram local2 = PingOverheadBench.sequential(ca, warmup / 2, iterations,
          () -> va.eventBus().request("agent.ping", body, localOnly).mapEmpty());
      report.line("local again: " + local2.summary());
      BenchSupport.Histogram remote2 = PingOverheadBench.sequential(cb, warmup / 2, iterations,
          () -> vb.eventBus().request("agent.ping", body, localOnly).mapEmpty());
      report.line("remote again: " + remote2.summary());
      double lp50 = Math.min(local1.percentileMicros(50), local2.percentileMicros(50));
      double lp99 = Math.min(local1.percentileMicros(99), local2.percentileMicros(99));
      double rp50 = Math.min(remote.percentileMicros(50), remote2.percentileMicros(50));
      double rp99 = Math.min(remote.percentileMicros(99), remote2.percentileMicros(99));
      report.format("added by the hop (better run of each): p50 +%.1f µs (%.2fx), "
          + "p99 +%.1f µs (%.2fx)", rp50 - lp50, rp50 / lp50, rp99 - lp99, rp99 / lp99);
      gb.stop().await(30, TimeUnit.SECONDS);
      ga.stop().await(30, TimeUnit.SECONDS);
    } finally {
      for (Vertx v : new Vertx[] {b, a, agents}) {
        if (v != null) {
          v.close().await(60, TimeUnit.SECONDS);
        }
      }
    }
    report.write();
  }

  /**
   * What {@code ClusterSetup.hazelcastConfig} builds for TCP-IP join on loopback. Not called
   * directly: with Hazelcast 5.6 it throws UnsupportedOperationException, because
   * {@code InterfacesConfig.getInterfaces()} is unmodifiable and it calls {@code clear()} on it
   * (reported, not fixed here).
   */
  private static Config hazelcastConfig(int port) {
    Config config = ConfigUtil.loadConfig();
    config.setProperty("hazelcast.phone.home.enabled", "false");
    config.setProperty("hazelcast.logging.type", "jdk");
    config.setProperty("hazelcast.socket.bind.any", "false");
    NetworkConfig network = config.getNetworkConfig();
    network.setPort(port).setPortAutoIncrement(true).setPortCount(20);
    JoinConfig join = network.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    join.getTcpIpConfig().setEnabled(true).setMembers(
        List.of("127.0.0.1:" + port, "127.0.0.1:" + (port + 1)));
    network.getInterfaces().setEnabled(true).setInterfaces(List.of("127.0.0.1"));
    return config;
  }

  private static Vertx member(int port, String clusterName) throws Exception {
    Config hz = hazelcastConfig(port);
    hz.setClusterName(clusterName);
    VertxOptions options = new VertxOptions();
    options.getEventBusOptions().setHost("127.0.0.1");
    return BenchSupport.vertxBuilder(options).withClusterManager(new GatewayClusterManager(hz))
        .buildClustered().await(60, TimeUnit.SECONDS);
  }
}
