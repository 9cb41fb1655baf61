package io.qgagateway.bench;

import io.qgagateway.Gateway;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark 2: throughput of {@code agent.ping} over the event bus against simulated agents run
 * by {@code SimulatorMain} in a process of its own. Per guest with one sequential caller and with
 * concurrent callers (they queue at the guest's link: one command in flight), then across all
 * guests with one and with several callers per guest.
 * {@code mvn -B -q test -Pbench -Dtest=ThroughputBench [-Dbench.guests=1000]
 * [-Dbench.seconds=10] [-Dbench.warmupSeconds=10] [-Dbench.concurrency=16]
 * [-Dbench.perGuest=4]}
 */
@Tag("bench")
class ThroughputBench {

  @TempDir
  Path dir;

  @Test
  void throughput() throws Exception {
    int guests = BenchSupport.intProp("bench.guests", 1000);
    long millis = BenchSupport.longProp("bench.seconds", 10) * 1000;
    int concurrency = BenchSupport.intProp("bench.concurrency", 16);
    int perGuest = BenchSupport.intProp("bench.perGuest", 4);
    int callerContexts = BenchSupport.intProp("bench.callers", 4);
    BenchSupport.Report report = new BenchSupport.Report("throughput");
    report.format("%d simulated guests in a separate process, %d s per phase, agent.ping, "
        + "%d caller event loops", guests, millis / 1000, callerContexts);
    try (BenchSupport.SimulatorProcess sim = BenchSupport.SimulatorProcess.start(guests,
        dir.resolve("sim"), "1g")) {
      Vertx vertx = BenchSupport.vertx();
      try {
        JsonObject config = BenchSupport.config(null)
            .put("discovery", new JsonArray().add(BenchSupport.discovery(dir.resolve("sim"))));
        Gateway gateway = BenchSupport.start(vertx, config);
        long syncMs = BenchSupport.awaitInSync(gateway, guests, 120_000);
        report.format("all %d guests in sync %d ms after the gateway started", guests, syncMs);
        List<String> all = new ArrayList<>();
        for (int i = 0; i < guests; i++) {
          all.add("sim-" + i);
        }
        BenchSupport.CpuWatch cpu;
        // warm-up: JIT, pools (as long as the fleet benchmark's: 5 s left the JIT short of the
        // fleet phases' code)
        Load.run(vertx, "agent.ping", all, 1,
            BenchSupport.longProp("bench.warmupSeconds", 10) * 1000, callerContexts);

        cpu = new BenchSupport.CpuWatch(sim.pid());
        Load.Result seq = Load.run(vertx, "agent.ping", List.of("sim-0"), 1, millis, 1);
        report.line("1 guest, 1 sequential caller: " + seq.summary());
        report.line("  " + cpu.summary(seq.ok()));
        cpu = new BenchSupport.CpuWatch(sim.pid());
        Load.Result conc = Load.run(vertx, "agent.ping", List.of("sim-0"), concurrency, millis,
            callerContexts);
        report.line("1 guest, " + concurrency + " concurrent callers: " + conc.summary());
        report.line("  " + cpu.summary(conc.ok()));
        cpu = new BenchSupport.CpuWatch(sim.pid());
        Load.Result fleet1 = Load.run(vertx, "agent.ping", all, 1, millis, callerContexts);
        report.line(guests + " guests, 1 caller each: " + fleet1.summary());
        report.line("  " + cpu.summary(fleet1.ok()));
        cpu = new BenchSupport.CpuWatch(sim.pid());
        Load.Result fleetN = Load.run(vertx, "agent.ping", all, perGuest, millis, callerContexts);
        report.line(guests + " guests, " + perGuest + " callers each: " + fleetN.summary());
        report.line("  " + cpu.summary(fleetN.ok()));
        double best = Math.max(fleet1.perSecond(), fleetN.perSecond());
        report.format("target >= 50,000 commands/s per node across %d guests: %s (best %.0f/s)",
            guests, best >= 50_000 ? "MET" : "MISSED", best);
        gateway.stop().await(60, TimeUnit.SECONDS);
      } finally {
        vertx.close().await(60, TimeUnit.SECONDS);
      }
    }
    report.write();
  }
}
