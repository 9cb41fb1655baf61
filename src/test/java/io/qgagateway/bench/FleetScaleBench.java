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
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark 3: fleet scale. For each size, {@code SimulatorMain} runs that many agents in a
 * process of its own; a fresh gateway in this JVM (-Xmx1g with -Pbench) discovers their sockets
 * and connects, syncs and reads guest-info of each. Measured: time until all are in sync, heap
 * after GC and RSS per guest, then one sequential {@code agent.ping} caller per guest for a while
 * (saturated: throughput, and latency that is mostly queueing), then one ping per guest every
 * {@code bench.intervalMs} (paced, below saturation: p50/p99 under load).
 * {@code mvn -B -q test -Pbench -Dtest=FleetScaleBench [-Dbench.sizes=1000,5000,10000]
 * [-Dbench.seconds=15] [-Dbench.warmupSeconds=10] [-Dbench.intervalMs=1000]
 * [-Dbench.perSimulator=5000]}
 */
@Tag("bench")
class FleetScaleBench {

  @TempDir
  Path dir;

  @Test
  void fleetScale() throws Exception {
    int[] sizes = Arrays.stream(System.getProperty("bench.sizes", "1000,5000,10000").split(","))
        .map(String::trim).mapToInt(Integer::parseInt).toArray();
    long millis = BenchSupport.longProp("bench.seconds", 15) * 1000;
    long self = ProcessHandle.current().pid();
    BenchSupport.Report report = new BenchSupport.Report("fleet-scale");
    report.format("sizes %s, load phase %d s (1 sequential agent.ping caller per guest), "
        + "gateway in the test JVM, simulator in processes of its own (-Xmx2g, up to "
        + "bench.perSimulator agents each)", Arrays.toString(sizes),
        millis / 1000);
    report.line("fd limit of the test JVM: " + fdLimit());
    for (int n : sizes) {
      Path simDir = dir.resolve("sim-" + n);
      long heap0 = BenchSupport.heapAfterGc();
      long rss0 = BenchSupport.rssKb(self);
      // at most bench.perSimulator agents per simulator process: each agent costs it two fds
      int perProcess = BenchSupport.intProp("bench.perSimulator", 5000);
      List<BenchSupport.SimulatorProcess> sims = new ArrayList<>();
      try {
        for (int k = 0; k * perProcess < n; k++) {
          // prefixes sim-, sim-0, sim-00...: distinct names, all matched by the pattern
          sims.add(BenchSupport.SimulatorProcess.start(Math.min(perProcess, n - k * perProcess),
              simDir, "2g", "sim-" + "0".repeat(k)));
        }
        long[] simPids = sims.stream().mapToLong(BenchSupport.SimulatorProcess::pid).toArray();
        report.format("N=%d: %d simulator process(es) ready in %s ms", n, sims.size(),
            sims.stream().map(x -> String.valueOf(x.startMillis)).toList());
        Vertx vertx = BenchSupport.vertx();
        try {
          JsonObject config = BenchSupport.config(null)
              .put("discovery", new JsonArray().add(BenchSupport.discovery(simDir)));
          BenchSupport.CpuWatch syncCpu = new BenchSupport.CpuWatch(simPids);
          long t0 = System.nanoTime();
          Gateway gateway = BenchSupport.start(vertx, config);
          long started = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
          report.format("N=%d: gateway.start returned after %d ms: %s", n, started,
              BenchSupport.states(gateway));
          long waited = BenchSupport.awaitInSync(gateway, n, 180_000, report);
          long total = waited < 0 ? -1 : started + waited;
          report.format("N=%d: gateway started (scan + deploy) in %d ms; all in sync after %d ms "
              + "(%d in sync)", n, started, total, BenchSupport.inSync(gateway));
          report.line("N=" + n + ":   during start and sync: " + syncCpu.summary(n)
              .replace("command", "guest"));
          long heap = BenchSupport.heapAfterGc();
          long rss = BenchSupport.rssKb(self);
          report.format("N=%d: heap after GC %.1f MiB (%.1f MiB before the gateway: %.1f KiB per "
                  + "guest); RSS %.0f MiB (%.1f KiB per guest over the %.0f MiB before); "
                  + "fds %d; simulator RSS %.0f MiB", n, heap / 1048576.0, heap0 / 1048576.0,
              (heap - heap0) / 1024.0 / n, rss / 1024.0, (rss - rss0) / (double) n, rss0 / 1024.0,
              BenchSupport.openFds(self), Arrays.stream(simPids).map(BenchSupport::rssKb).sum()
                  / 1024.0);
          List<String> all = gateway.fleet().local().all().stream()
              .map(v -> v.target().name()).toList();
          Load.run(vertx, "agent.ping", all, 1, BenchSupport.longProp("bench.warmupSeconds", 10) * 1000, 4);
          BenchSupport.CpuWatch cpu = new BenchSupport.CpuWatch(simPids);
          report.line("N=" + n + ": saturating, 1 sequential caller per guest:");
          Load.Result r = Load.run(vertx, "agent.ping", all, 1, millis, 4);
          report.line("N=" + n + ": saturated: " + r.summary());
          report.line("N=" + n + ":   " + cpu.summary(r.ok()));
          // paced: every guest pinged once per bench.intervalMs, well below saturation
          long interval = BenchSupport.longProp("bench.intervalMs", 1000);
          cpu = new BenchSupport.CpuWatch(simPids);
          Load.Result paced = Load.run(vertx, "agent.ping", all, 1, millis, 4, interval);
          report.line("N=" + n + ": paced, 1 ping per guest every " + interval + " ms: "
              + paced.summary());
          report.line("N=" + n + ":   " + cpu.summary(paced.ok()));
          report.format("N=%d: target (10,000 guests < 1 GiB heap, in sync < 30 s): heap %s, "
                  + "sync %s", n, heap < (1L << 30) ? "below 1 GiB" : "OVER 1 GiB",
              total >= 0 && total < 30_000 ? "within 30 s" : "NOT within 30 s");
          long t1 = System.nanoTime();
          gateway.stop().await(120, TimeUnit.SECONDS);
          report.format("N=%d: gateway stopped in %d ms", n,
              TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1));
        } finally {
          vertx.close().await(120, TimeUnit.SECONDS);
        }
      } finally {
        for (BenchSupport.SimulatorProcess sim : sims) {
          sim.close();
        }
      }
    }
    report.write();
  }

  private static String fdLimit() {
    try {
      return java.nio.file.Files.readAllLines(Path.of("/proc/self/limits")).stream()
          .filter(l -> l.startsWith("Max open files")).findFirst().orElse("?")
          .replaceAll("\\s+", " ");
    } catch (java.io.IOException e) {
      return "?";
    }
  }
}
