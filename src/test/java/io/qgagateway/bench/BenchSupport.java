package io.qgagateway.bench;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.LinkState;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.transport.Transport;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/** What the benchmarks share: gateway start, readiness, percentiles, machine facts, output. */
public final class BenchSupport {

  /**
   * The gateway's default vertx.* settings, so the benchmarks run on what users get; with
   * {@code -Dbench.transport=epoll} or {@code -Dbench.eventLoops=N} to compare others.
   */
  static final GatewayConfig.VertxSettings SETTINGS = GatewayConfig.parse(config(null)
      .put("vertx", new JsonObject()
          .put("transport", System.getProperty("bench.transport", "auto"))
          .put("eventLoops", intProp("bench.eventLoops", 0)))).vertx();

  /**
   * The simulator stands in for a thousand VMs on the gateway's own two cores, so it should cost
   * as little as it can: io_uring where available (about 8 us of CPU per command against 14 on
   * epoll); {@code -Dbench.simTransport} to choose.
   */
  static final String SIM_TRANSPORT = System.getProperty("bench.simTransport",
      Transport.IO_URING.available() ? "io_uring" : "auto");

  private BenchSupport() {
  }

  static int intProp(String name, int def) {
    return Integer.getInteger(name, def);
  }

  static long longProp(String name, long def) {
    return Long.getLong(name, def);
  }

  /** A gateway config: no HTTP, metrics on, node name "bench", plus the given pieces. */
  static JsonObject config(JsonArray guests) {
    return new JsonObject()
        .put("node", new JsonObject().put("name", "bench"))
        .put("guests", guests == null ? new JsonArray() : guests)
        .put("http", new JsonObject().put("enabled", false))
        .put("shutdown", new JsonObject().put("drainMs", 1000))
        .put("libvirt", new JsonObject().put("enabled", false));
  }

  static JsonObject discovery(Path dir) {
    return new JsonObject().put("directory", dir.toString())
        .put("pattern", "(?<name>sim-[0-9]+)\\.sock")
        .put("scanIntervalMs", longProp("bench.scanIntervalMs", 1000));
  }

  /** A Vert.x set up as the gateway's default configuration sets up its own (vertx.*). */
  static Vertx vertx() {
    return vertxBuilder(new VertxOptions()).build();
  }

  static VertxBuilder vertxBuilder(VertxOptions options) {
    return SETTINGS.applyTo(Vertx.builder(), options);
  }

  static Gateway start(Vertx vertx, JsonObject config) throws Exception {
    return start(vertx, config, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  static Gateway start(Vertx vertx, JsonObject config, PrometheusMeterRegistry registry)
      throws Exception {
    return Gateway.start(vertx, GatewayConfig.parse(config), registry, new Health(false))
        .await(120, TimeUnit.SECONDS);
  }

  /** Guests of this node whose link is READY and has read guest-info ("in sync"). */
  static int inSync(Gateway gateway) {
    int n = 0;
    for (LinkVerticle v : gateway.fleet().local().all()) {
      AgentChannel link = v.link();
      if (link != null && link.state() == LinkState.READY && link.agentInfo() != null) {
        n++;
      }
    }
    return n;
  }

  /** How many links are in each state, and how many have read guest-info. */
  static String states(Gateway gateway) {
    java.util.Map<LinkState, Integer> byState = new java.util.EnumMap<>(LinkState.class);
    int info = 0;
    for (LinkVerticle v : gateway.fleet().local().all()) {
      AgentChannel link = v.link();
      if (link != null) {
        byState.merge(link.state(), 1, Integer::sum);
        info += link.agentInfo() != null ? 1 : 0;
      }
    }
    return byState + " with guest-info " + info;
  }

  /** Waits until {@code count} guests are in sync; returns the ms it took, or -1 on timeout. */
  static long awaitInSync(Gateway gateway, int count, long timeoutMs) throws InterruptedException {
    return awaitInSync(gateway, count, timeoutMs, null);
  }

  /** The same, reporting the link states every second to {@code progress} if given. */
  static long awaitInSync(Gateway gateway, int count, long timeoutMs, Report progress)
      throws InterruptedException {
    long start = System.nanoTime();
    long nextReport = start;
    long deadline = start + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    while (System.nanoTime() < deadline) {
      if (inSync(gateway) >= count) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      }
      if (progress != null && System.nanoTime() >= nextReport) {
        progress.line("  +" + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms: "
            + states(gateway));
        nextReport += TimeUnit.SECONDS.toNanos(2);
      }
      Thread.sleep(50);
    }
    return -1;
  }

  /** Latencies in nanoseconds; percentiles by sorting. */
  static final class Histogram {
    private long[] values;
    private int size;

    Histogram(int capacity) {
      values = new long[Math.max(16, capacity)];
    }

    synchronized void add(long nanos) {
      if (size == values.length) {
        values = Arrays.copyOf(values, size * 2);
      }
      values[size++] = nanos;
    }

    synchronized void copyInto(Histogram other) {
      for (int i = 0; i < size; i++) {
        other.add(values[i]);
      }
    }

    synchronized int count() {
      return size;
    }

    /** p in [0, 100]: the value at that percentile in µs. */
    synchronized double percentileMicros(double p) {
      if (size == 0) {
        return Double.NaN;
      }
      long[] sorted = Arrays.copyOf(values, size);
      Arrays.sort(sorted);
      int index = (int) Math.min(size - 1, Math.max(0, Math.ceil(p / 100.0 * size) - 1));
      return sorted[index] / 1000.0;
    }

    synchronized double meanMicros() {
      long sum = 0;
      for (int i = 0; i < size; i++) {
        sum += values[i];
      }
      return size == 0 ? Double.NaN : sum / 1000.0 / size;
    }

    String summary() {
      return String.format(Locale.ROOT, "n=%d p50=%.1f µs p90=%.1f µs p99=%.1f µs p99.9=%.1f µs "
              + "max=%.1f µs mean=%.1f µs", count(), percentileMicros(50), percentileMicros(90),
          percentileMicros(99), percentileMicros(99.9), percentileMicros(100), meanMicros());
    }
  }

  /** A figures block: printed between markers and written to target/bench/NAME.txt. */
  public static final class Report {
    private final String name;
    private final List<String> lines = new ArrayList<>();

    public Report(String name) {
      this.name = name;
      line("machine: " + machine());
      line("vertx.transport " + SETTINGS.transport() + ": " + SETTINGS.pickTransport().name()
          + "; vertx.eventLoops " + SETTINGS.eventLoops()
          + (SETTINGS.eventLoops() == 0 ? " (twice the cores)" : "")
          + "; simulator processes on " + SIM_TRANSPORT);
      line("load at start: " + loadAverage());
    }

    public Report line(String text) {
      lines.add(text);
      System.out.println("[" + name + "] " + text);
      System.out.flush();
      return this;
    }

    public Report format(String format, Object... args) {
      return line(String.format(Locale.ROOT, format, args));
    }

    public void write() throws IOException {
      line("load at end: " + loadAverage());
      StringBuilder out = new StringBuilder("==== " + name + " ====\n");
      lines.forEach(l -> out.append(l).append('\n'));
      out.append("==== end ").append(name).append(" ====\n");
      System.out.println(out);
      Path dir = Path.of("target", "bench");
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(name + ".txt"), out.toString(), StandardCharsets.UTF_8);
    }
  }

  static String machine() {
    long memKb = procField(Path.of("/proc/meminfo"), "MemTotal:");
    return Runtime.getRuntime().availableProcessors() + " cpus, " + (memKb / 1024) + " MiB RAM, "
        + System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version")
        + ", max heap " + (Runtime.getRuntime().maxMemory() >> 20) + " MiB, "
        + System.getProperty("os.name") + " " + System.getProperty("os.version");
  }

  public static String loadAverage() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).trim();
    } catch (IOException e) {
      return "?";
    }
  }

  /** VmRSS of a process in KiB, -1 if unknown. */
  public static long rssKb(long pid) {
    return procField(Path.of("/proc/" + pid + "/status"), "VmRSS:");
  }

  static long procField(Path file, String field) {
    try {
      for (String line : Files.readAllLines(file)) {
        if (line.startsWith(field)) {
          return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }

  /** Heap used after a full GC, in bytes. */
  public static long heapAfterGc() throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(200);
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  /** User + system CPU time of a process (all threads) in ms, from /proc/PID/stat. */
  public static long cpuMillis(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      // fields 14 and 15 of stat; index 0 here is field 3
      return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** Busy and total CPU time of the whole machine in ms, from /proc/stat. */
  static long[] machineCpuMillis() {
    try {
      String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
      long total = 0;
      for (int i = 1; i < f.length; i++) {
        total += Long.parseLong(f[i]);
      }
      long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
      return new long[] {(total - idle) * 10, total * 10};
    } catch (IOException | RuntimeException e) {
      return new long[] {-1, -1};
    }
  }

  /** CPU used by the gateway's JVM, the simulator and everything else while a phase ran. */
  static final class CpuWatch {
    private final long[] sims;
    private final long self = ProcessHandle.current().pid();
    private final long self0;
    private final long sim0;
    private final long[] machine0;

    private final long gcMillis0 = gcMillis();
    private final long gcCount0 = gcCount();

    CpuWatch(long... simPids) {
      sims = simPids;
      self0 = cpuMillis(self);
      sim0 = simCpu();
      machine0 = machineCpuMillis();
    }

    private long simCpu() {
      long sum = 0;
      for (long pid : sims) {
        sum += cpuMillis(pid);
      }
      return sum;
    }

    String summary(long commands) {
      long gw = cpuMillis(self) - self0;
      long sm = simCpu() - sim0;
      long[] m = machineCpuMillis();
      long busy = m[0] - machine0[0];
      long total = m[1] - machine0[1];
      return String.format(Locale.ROOT, "CPU: gateway JVM %.1f s (%.1f µs/command), simulator %.1f s"
              + " (%.1f µs/command), other processes %.1f s; machine %.0f%% busy; gateway GC %d "
              + "collections, %.1f s",
          gw / 1000.0, commands == 0 ? 0 : gw * 1000.0 / commands, sm / 1000.0,
          commands == 0 ? 0 : sm * 1000.0 / commands, (busy - gw - sm) / 1000.0,
          total == 0 ? 0 : 100.0 * busy / total, gcCount() - gcCount0,
          (gcMillis() - gcMillis0) / 1000.0);
    }

    private static long gcMillis() {
      return ManagementFactory.getGarbageCollectorMXBeans().stream()
          .mapToLong(java.lang.management.GarbageCollectorMXBean::getCollectionTime).sum();
    }

    private static long gcCount() {
      return ManagementFactory.getGarbageCollectorMXBeans().stream()
          .mapToLong(java.lang.management.GarbageCollectorMXBean::getCollectionCount).sum();
    }
  }

  static long openFds(long pid) {
    String[] list = Path.of("/proc/" + pid + "/fd").toFile().list();
    return list == null ? -1 : list.length;
  }

  /**
   * The simulator as a process of its own: the test classpath (or -Dbench.simJar), its own heap,
   * a raised fd limit when the hard limit allows it.
   */
  static final class SimulatorProcess implements AutoCloseable {
    final Process process;
    final long startMillis;

    private SimulatorProcess(Process process, long startMillis) {
      this.process = process;
      this.startMillis = startMillis;
    }

    static SimulatorProcess start(int guests, Path dir, String heap) throws Exception {
      return start(guests, dir, heap, "sim-");
    }

    static SimulatorProcess start(int guests, Path dir, String heap, String prefix)
        throws Exception {
      String classpath = System.getProperty("bench.simJar", System.getProperty("java.class.path"));
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      String command = "ulimit -n $(ulimit -Hn) 2>/dev/null; exec '" + java + "' -Xmx" + heap
          + " -XX:+UseSerialGC -Dqga.transport=" + SIM_TRANSPORT + " "
          + System.getProperty("bench.simJvmArgs", "") + " -cp '" + classpath + "' io.qgagateway.sim.SimulatorMain --guests "
          + guests + " --dir '" + dir + "' --prefix '" + prefix + "'";
      long t0 = System.nanoTime();
      Process p = new ProcessBuilder("sh", "-c", command)
          .redirectError(ProcessBuilder.Redirect.INHERIT).start();
      BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
          StandardCharsets.UTF_8));
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("ready ")) {
          break;
        }
      }
      if (line == null) {
        p.destroyForcibly();
        throw new IOException("simulator exited with " + p.waitFor());
      }
      // keep draining its stdout so it never blocks on a full pipe
      Thread drain = new Thread(() -> {
        try {
          while (out.readLine() != null) {
            // discard
          }
        } catch (IOException ignored) {
          // process gone
        }
      }, "sim-stdout");
      drain.setDaemon(true);
      drain.start();
      return new SimulatorProcess(p, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    long pid() {
      return process.pid();
    }

    @Override
    public void close() throws InterruptedException {
      process.destroy();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
