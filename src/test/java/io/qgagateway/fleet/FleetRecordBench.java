package io.qgagateway.fleet;

import com.hazelcast.replicatedmap.ReplicatedMap;
import io.qgagateway.bench.BenchSupport;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.fleet.ProcessCluster.Member;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Benchmark 7: the fleet record (who holds which guest) at scale.
 *
 * <p>{@link #membersAndGuests}: {@code bench.members} (5) gateway processes of
 * {@code bench.guests} (2,000) demo guests each, clustered on loopback; then a sixth joins, leaves
 * gracefully (SIGTERM), and one is killed (kill -9). Measured per member from outside: how long
 * until every member's view agrees ({@code qga_cluster_remote_guests}, polled every 200 ms on
 * {@code /metrics}), the TCP bytes it sent and received between members (Hazelcast and event
 * bus; {@code ss -tin}, HTTP excluded) and its CPU ({@code /proc/PID/stat}), idle and around each
 * event. Needs the jar ({@code mvn -B -q package -DskipTests}).
 *
 * <p>{@link #heapPerEntry}: one clustered Vert.x in this JVM with the fleet store and view of a
 * member; {@code bench.entries} (100,000: 100 members x 1,000 guests) entries written to the
 * record as other members would; heap after GC per entry, and how fast the view takes them in.
 *
 * <p>{@code mvn -B -q test -Pbench -Dtest=FleetRecordBench [-Dbench.members=5]
 * [-Dbench.guests=2000] [-Dbench.entries=100000]}
 */
@Tag("bench")
class FleetRecordBench {

  private static final String REACHABLE = "qga_cluster_remote_guests{reachable=\"true\"}";
  private static final String UNREACHABLE = "qga_cluster_remote_guests{reachable=\"false\"}";

  @TempDir
  Path dir;

  @Test
  void membersAndGuests() throws Exception {
    int k = Integer.getInteger("bench.members", 5);
    int g = Integer.getInteger("bench.guests", 2_000);
    BenchSupport.Report report = new BenchSupport.Report("fleet-record");
    report.format("%d gateway processes x %d demo guests (simulated agents in each process), "
        + "then a joiner with %d more; -Xmx768m each; 2 cores shared by all", k, g, g);
    try (ProcessCluster cluster = new ProcessCluster(dir, k + 1)) {
      List<Member> members = new ArrayList<>();
      long formed0 = System.currentTimeMillis();
      // one after the other: five starting at once overload two cores
      for (int i = 0; i < k; i++) {
        members.add(cluster.awaitReady(cluster.awaitStarted(
            cluster.start(i, "M" + (i + 1), g, "768m"))));
      }
      long formed = converge(cluster, members, m -> value(cluster, m, REACHABLE) == (k - 1) * g);
      report.format("formation: %d members started one after the other, every view complete "
          + "(%d remote guests each) %d ms after the first process started", k, (k - 1) * g,
          formed - formed0);

      Snapshot idle0 = Snapshot.take(cluster, members);
      Thread.sleep(30_000);
      Snapshot idle1 = Snapshot.take(cluster, members);
      report.line("idle 30 s, per member: " + idle1.minus(idle0).perSecond(30));

      // ---- a member joins --------------------------------------------------------------------
      Snapshot join0 = Snapshot.take(cluster, members);
      long started6 = System.currentTimeMillis();
      Member joiner = cluster.awaitStarted(cluster.start(k, "M" + (k + 1), g, "768m"));
      long up = System.currentTimeMillis();
      long seen = converge(cluster, members, m -> value(cluster, m, REACHABLE) == k * g);
      long loaded = converge(cluster, List.of(joiner),
          m -> value(cluster, m, REACHABLE) == k * g);
      cluster.awaitReady(joiner);
      Thread.sleep(2_000);
      List<Member> all = new ArrayList<>(members);
      all.add(joiner);
      Snapshot join1 = Snapshot.take(cluster, all);
      report.format("join of a member with %d guests: started in %d ms; the %d others list all "
              + "its guests %d ms after its start line (%d ms after its process started); it "
              + "lists the others' %d guests %d ms after its start line", g, up - started6, k,
          seen - up, seen - started6, k * g, loaded - up);
      report.line("join, per member, from before the start to 2 s after convergence: "
          + join1.minus(join0));

      // ---- it leaves gracefully ----------------------------------------------------------------
      Snapshot leave0 = Snapshot.take(cluster, all);
      joiner.process().destroy();
      long term = System.currentTimeMillis();
      long gone = converge(cluster, members, m -> value(cluster, m, UNREACHABLE) == g);
      joiner.process().waitFor(60, TimeUnit.SECONDS);
      Thread.sleep(2_000);
      Snapshot leave1 = Snapshot.take(cluster, members);
      report.format("graceful leave (SIGTERM): every other member lists its %d guests as "
          + "unreachable %d ms later; process exited", g, gone - term);
      report.line("leave, per member: " + leave1.minus(leave0));

      // ---- one is killed -----------------------------------------------------------------------
      Member victim = members.remove(members.size() - 1);
      Snapshot kill0 = Snapshot.take(cluster, members);
      victim.process().destroyForcibly();
      long killed = System.currentTimeMillis();
      long lost = converge(cluster, members, m -> value(cluster, m, UNREACHABLE) == 2 * g);
      Thread.sleep(2_000);
      Snapshot kill1 = Snapshot.take(cluster, members);
      report.format("kill -9: every other member lists its %d guests as unreachable %d ms later",
          g, lost - killed);
      report.line("kill, per member: " + kill1.minus(kill0));
      for (Member m : members) {
        report.format("%s: RSS %d MiB", m.name(), BenchSupport.rssKb(m.process().pid()) / 1024);
      }
    }
    report.write();
  }

  @Test
  void heapPerEntry() throws Exception {
    int entries = Integer.getInteger("bench.entries", 100_000);
    int perNode = 1_000;
    BenchSupport.Report report = new BenchSupport.Report("fleet-record-heap");
    int port = TestPorts.free();
    GatewayConfig.Cluster config = GatewayConfig.parse(new JsonObject().put("cluster",
        new JsonObject().put("enabled", true).put("port", port)
            .put("members", new io.vertx.core.json.JsonArray().add("127.0.0.1:" + port))))
        .cluster();
    String clusterName = "bench-" + System.nanoTime();
    Vertx vertx = ClusterSetup.clustered(Vertx.builder(), new VertxOptions(), config,
            ClusterSetup.hazelcastConfig(config).setClusterName(clusterName))
        .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    try {
      GatewayClusterManager cm = (GatewayClusterManager) ((VertxInternal) vertx).clusterManager();
      FleetView view = new FleetView(new NodeIdentity(cm.getNodeId(), "bench"),
          new LocalGuests(), 3_600_000);
      HazelcastFleetStore store = new HazelcastFleetStore(vertx, cm, view,
          GatewayConfig.Cluster.DEFAULT_SILENT_AFTER_MS);
      store.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      long heap0 = BenchSupport.heapAfterGc();
      long cpu0 = BenchSupport.cpuMillis(ProcessHandle.current().pid());
      long t0 = System.nanoTime();
      ReplicatedMap<String, String> guests = cm.getHazelcastInstance()
          .getReplicatedMap(HazelcastFleetStore.GUESTS_MAP);
      ReplicatedMap<String, String> nodes = cm.getHazelcastInstance()
          .getReplicatedMap(HazelcastFleetStore.NODES_MAP);
      long keyChars = 0;
      for (int n = 0; n * perNode < entries; n++) {
        String id = java.util.UUID.randomUUID().toString();
        nodes.put(id, new JsonObject().put("name", "hv-" + n).encode());
        Map<String, String> batch = new HashMap<>();
        for (int i = 0; i < perNode && n * perNode + i < entries; i++) {
          String key = HazelcastFleetStore.key(id, "vm-" + n + "-" + i);
          keyChars += key.length();
          batch.put(key, "");
        }
        guests.putAll(batch);
      }
      long deadline = System.currentTimeMillis() + 300_000;
      while (view.remoteGuests(true) + view.remoteGuests(false) < entries
          && System.currentTimeMillis() < deadline) {
        Thread.sleep(50);
      }
      long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      long cpu = BenchSupport.cpuMillis(ProcessHandle.current().pid()) - cpu0;
      long heap1 = BenchSupport.heapAfterGc();
      report.format("%d entries (%d members x %d guests; keys of %d chars on average) written "
              + "and in the view after %d ms, %d ms CPU of this JVM (%.1f µs per entry)",
          entries, entries / perNode, perNode, keyChars / entries, took, cpu,
          cpu * 1000.0 / entries);
      report.format("heap after GC: +%.1f MiB, %d bytes per entry (the replicated map's copy and"
          + " the view's indexes)", (heap1 - heap0) / 1048576.0, (heap1 - heap0) / entries);

      // a second member joins: it receives the whole record; then writes entries of its own,
      // which the first receives. Loopback bytes of this JVM's sockets (both ends are here)
      int port2 = TestPorts.free();
      GatewayConfig.Cluster config2 = GatewayConfig.parse(new JsonObject().put("cluster",
          new JsonObject().put("enabled", true).put("port", port2)
              .put("members", new io.vertx.core.json.JsonArray().add("127.0.0.1:" + port)
                  .add("127.0.0.1:" + port2)))).cluster();
      long[] bytes0 = ownTcpBytes();
      long joinT0 = System.nanoTime();
      Vertx second = ClusterSetup.clustered(Vertx.builder(), new VertxOptions(), config2,
              ClusterSetup.hazelcastConfig(config2).setClusterName(clusterName))
          .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
      try {
        ReplicatedMap<String, String> copy = ((GatewayClusterManager) ((VertxInternal) second)
            .clusterManager()).getHazelcastInstance()
            .getReplicatedMap(HazelcastFleetStore.GUESTS_MAP);
        int size = copy.size();  // with async-fillup off, this waits for the whole copy
        long joinMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - joinT0);
        long[] bytes1 = ownTcpBytes();
        report.format("a second member joins: its copy of the %d entries complete %d ms after it "
                + "started joining; %.1f MiB on the wire between the two (%d bytes per entry, "
                + "Hazelcast's join included)", size, joinMs,
            (bytes1[0] - bytes0[0]) / 1048576.0, (bytes1[0] - bytes0[0]) / Math.max(1, size));
        int more = entries / 10;
        String id = java.util.UUID.randomUUID().toString();
        Map<String, String> batch = new HashMap<>();
        for (int i = 0; i < more; i++) {
          batch.put(HazelcastFleetStore.key(id, "vm-new-" + i), "");
        }
        long writeT0 = System.nanoTime();
        copy.putAll(batch);
        while (view.remoteGuests(true) + view.remoteGuests(false) < entries + more
            && System.currentTimeMillis() < deadline + 300_000) {
          Thread.sleep(20);
        }
        long writeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - writeT0);
        Thread.sleep(1_000);
        long[] bytes2 = ownTcpBytes();
        report.format("%d new entries written on the second member: in the first member's view "
                + "after %d ms; %.1f KiB on the wire (%d bytes per entry, all messages both ways)",
            more, writeMs, (bytes2[0] - bytes1[0]) / 1024.0, (bytes2[0] - bytes1[0]) / more);
      } finally {
        second.close().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
      store.stop().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    }
    report.write();
  }

  /** Bytes sent and received over the TCP sockets of this JVM, from {@code ss -tinp}. */
  private static long[] ownTcpBytes() throws IOException, InterruptedException {
    long pid = ProcessHandle.current().pid();
    Process ss = new ProcessBuilder("ss", "-tinpH").redirectErrorStream(true).start();
    String[] lines = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
        .split("\n");
    ss.waitFor(10, TimeUnit.SECONDS);
    long[] total = new long[2];
    boolean ours = false;
    for (String line : lines) {
      if (!line.startsWith("\t") && !line.startsWith(" ")) {
        ours = line.contains("pid=" + pid + ",");
      } else if (ours) {
        Matcher sent = Pattern.compile("bytes_sent:(\\d+)").matcher(line);
        Matcher received = Pattern.compile("bytes_received:(\\d+)").matcher(line);
        total[0] += sent.find() ? Long.parseLong(sent.group(1)) : 0;
        total[1] += received.find() ? Long.parseLong(received.group(1)) : 0;
        ours = false;
      }
    }
    return total;
  }

  // ---- measuring -------------------------------------------------------------------------------

  private static double value(ProcessCluster cluster, Member m, String series) {
    try {
      return cluster.metric(m, series);
    } catch (Exception e) {
      return -1;
    }
  }

  /** Polls until the condition holds for every member; returns when it did (epoch ms). */
  private static long converge(ProcessCluster cluster, List<Member> members,
                               Predicate<Member> done) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 300_000;
    List<Member> waiting = new ArrayList<>(members);
    while (!waiting.isEmpty()) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("no convergence of " + waiting + cluster.logs());
      }
      waiting.removeIf(done);
      if (!waiting.isEmpty()) {
        Thread.sleep(200);
      }
    }
    return System.currentTimeMillis();
  }

  /** TCP bytes between members and CPU, per member process, at one moment. */
  private record Snapshot(long atMillis, Map<String, long[]> byMember) {

    private static final Pattern USERS = Pattern.compile("pid=(\\d+),");
    private static final Pattern SENT = Pattern.compile("bytes_sent:(\\d+)");
    private static final Pattern RECEIVED = Pattern.compile("bytes_received:(\\d+)");

    static Snapshot take(ProcessCluster cluster, List<Member> members) throws IOException,
        InterruptedException {
      Map<Long, long[]> bytes = new HashMap<>();
      Map<Long, Integer> httpPorts = new HashMap<>();
      for (Member m : members) {
        httpPorts.put(m.process().pid(), m.httpPort());
      }
      Process ss = new ProcessBuilder("ss", "-tinpH").redirectErrorStream(true).start();
      String[] lines = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
          .split("\n");
      ss.waitFor(10, TimeUnit.SECONDS);
      Long pid = null;
      for (String line : lines) {
        if (!line.startsWith("\t") && !line.startsWith(" ")) {
          Matcher u = USERS.matcher(line);
          pid = null;
          if (u.find()) {
            long p = Long.parseLong(u.group(1));
            Integer http = httpPorts.get(p);
            String[] cols = line.trim().split("\\s+");
            // local address is the 4th column: skip the HTTP server's sockets (our polling)
            if (http != null && cols.length > 3 && !cols[3].endsWith(":" + http)) {
              pid = p;
            }
          }
        } else if (pid != null) {
          long[] b = bytes.computeIfAbsent(pid, x -> new long[2]);
          Matcher s = SENT.matcher(line);
          Matcher r = RECEIVED.matcher(line);
          b[0] += s.find() ? Long.parseLong(s.group(1)) : 0;
          b[1] += r.find() ? Long.parseLong(r.group(1)) : 0;
          pid = null;
        }
      }
      Map<String, long[]> out = new HashMap<>();
      for (Member m : members) {
        long[] b = bytes.getOrDefault(m.process().pid(), new long[2]);
        out.put(m.name(), new long[] {b[0], b[1], BenchSupport.cpuMillis(m.process().pid())});
      }
      return new Snapshot(System.currentTimeMillis(), out);
    }

    /** The change since {@code before}, per member (members in both). */
    Delta minus(Snapshot before) {
      Map<String, long[]> d = new java.util.TreeMap<>();
      for (Map.Entry<String, long[]> e : byMember.entrySet()) {
        long[] b = before.byMember.get(e.getKey());
        long[] a = e.getValue();
        if (b != null) {
          // a socket that closed in between takes its counts along: floor at 0
          d.put(e.getKey(), new long[] {Math.max(0, a[0] - b[0]), Math.max(0, a[1] - b[1]),
              a[2] - b[2]});
        } else {
          d.put(e.getKey(), a.clone());
        }
      }
      return new Delta(d, atMillis - before.atMillis);
    }
  }

  private record Delta(Map<String, long[]> byMember, long millis) {
    Delta perSecond(int seconds) {
      Map<String, long[]> d = new java.util.TreeMap<>();
      byMember.forEach((k, v) -> d.put(k, new long[] {v[0] / seconds, v[1] / seconds,
          v[2] / seconds}));
      return new Delta(d, 1000);
    }

    @Override
    public String toString() {
      StringBuilder out = new StringBuilder("over " + millis + " ms:");
      byMember.forEach((k, v) -> out.append(String.format(" %s sent %s received %s cpu %d ms;",
          k, kib(v[0]), kib(v[1]), v[2])));
      return out.toString();
    }

    private static String kib(long bytes) {
      return bytes < 10_240 ? bytes + " B" : String.format("%.1f KiB", bytes / 1024.0);
    }
  }
}
