package io.qgagateway;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.k8s.ManifestsTest;
import io.qgagateway.testing.GatewayProcess;
import io.qgagateway.testing.RawHttp;
import io.qgagateway.testing.RawHttp.Answer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.qgagateway.testing.GatewayProcess.tail;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Issue 10, bounded memory under hostile bodies: the real jar, started with the JVM flags of
 * the DaemonSet in k8s/ and sized as in its pod ({@code -XX:MaxRAM} = the container's memory
 * limit, {@code -XX:ActiveProcessorCount} = its CPU limit), with the default {@code http.*}
 * limits, is hammered with several concurrent 60 MiB bodies, a 100 MB chunked body, bodies
 * just under the per-request cap (valid file-puts and garbage) and concurrent streamed uploads
 * to the simulated guests, for several rounds. The process's VmRSS is sampled from
 * /proc/PID/status throughout, and its VmHWM (the kernel's own high-water mark) read at the end:
 * both stay under the pod's limit. Every request gets a coded answer, and the body budget is
 * whole again afterwards.
 *
 * <p>The simulated guests live in the gateway's own heap, so the figures include the guest's
 * copy of every file written: stricter than a real node, where that memory is the VM's.
 */
class BodyMemoryProcessIT {

  private static final long MIB = 1024 * 1024;
  private static final int ROUNDS = 3;
  private static final int STREAMS = 4;
  /** Read back with file-get, whose base64 must stay under Jackson's 20,000,000 chars too. */
  private static final int STREAM_BYTES = 12 * 1024 * 1024;
  /** The largest string Jackson accepts is 20,000,000 chars: base64 of this many bytes. */
  private static final int JSON_PUT_BYTES = 14_999_997;

  /** Kept when the test fails: the gateway's log and GC log are in it. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  Path dir;

  private Process gateway;

  @AfterEach
  void tearDown() throws InterruptedException {
    if (gateway != null) {
      gateway.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void hostileBodiesNeverTakeTheGatewayPastThePodMemoryLimit() throws Exception {
    String jvmFlags = ManifestsTest.javaToolOptions();
    long podLimit = ManifestsTest.memoryLimitBytes();
    int cpus = ManifestsTest.cpuLimit();
    long maxBody = GatewayConfig.Http.DEFAULT_MAX_BODY_BYTES;
    // the defaults; a sizing experiment may try another budget: -Dqga.it.maxInFlightBodyBytes=N
    long budget = Long.getLong("qga.it.maxInFlightBodyBytes",
        GatewayConfig.Http.DEFAULT_MAX_IN_FLIGHT_BODY_BYTES);
    Path log = dir.resolve("gateway.log");
    Path gcLog = dir.resolve("gc.log");
    int port = start(log, gcLog, jvmFlags, podLimit, cpus, budget);
    awaitGuests(port, log);

    RssSampler rss = new RssSampler(gateway.pid());
    Thread sampler = new Thread(rss, "rss-sampler");
    sampler.setDaemon(true);
    sampler.start();
    long baseline = rss.current();

    Map<String, Map<Integer, Integer>> statuses = new TreeMap<>();
    List<Long> roundPeaks = new ArrayList<>();
    List<String> alone = new ArrayList<>();
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      // alone, so the budget cannot be what stops them: the per-request cap answers, before
      // reading (Content-Length) or at the first byte over it (chunked)
      for (Answer a : List.of(
          put(pool, port, "60 MiB Content-Length", false, 60 * MIB, RawHttp.filler(60 * MIB)),
          put(pool, port, "100 MB chunked", true, -1, RawHttp.filler(100_000_000L)))) {
        record(statuses, a);
        assertEquals(413, a.status(), a.toString());
        check(a, budget);
        alone.add(String.format(Locale.ROOT, "%s: 413 when the client had sent %.1f MiB",
            a.kind(), a.sent() / (double) MIB));
      }

      for (int round = 1; round <= ROUNDS; round++) {
        rss.resetPeak();
        List<Future<Answer>> answers = new ArrayList<>();
        List<Future<Answer>> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          answers.add(pool.submit(() -> put(pool, port, "60 MiB Content-Length", false,
              60 * MIB, RawHttp.filler(60 * MIB))));
        }
        answers.add(pool.submit(() -> put(pool, port, "100 MB chunked", true, -1,
            RawHttp.filler(100_000_000L))));
        for (int i = 0; i < 6; i++) {
          int seed = round * 100 + i;
          answers.add(pool.submit(() -> put(pool, port, "~19 MB file-put JSON", false,
              jsonPutLength(), (out, answered) -> jsonPut(out, seed))));
        }
        for (int i = 0; i < 4; i++) {
          answers.add(pool.submit(() -> put(pool, port, "30 MiB chunked garbage", true, -1,
              RawHttp.filler(30 * MIB))));
        }
        for (int i = 0; i < STREAMS; i++) {
          int stream = i;
          int seed = round * 1000 + i;
          streams.add(pool.submit(() -> streamWithRetries(pool, port, stream, seed)));
        }
        for (Future<Answer> f : answers) {
          check(record(statuses, f.get(5, TimeUnit.MINUTES)), budget);
        }
        for (int i = 0; i < STREAMS; i++) {
          Answer a = record(statuses, streams.get(i).get(5, TimeUnit.MINUTES));
          assertEquals(200, a.status(), a.toString());
          assertEquals(STREAM_BYTES, new JsonObject(a.body()).getJsonObject("return")
              .getLong("size"), a.toString());
          verifyAndTruncate(pool, port, i, round * 1000 + i);
        }
        roundPeaks.add(rss.peak());
        assertTrue(gateway.isAlive(), "gateway alive after round " + round + tail(log));
      }

      // nothing leaked: bodies that add up to the whole budget, sent at once, are all read
      // (then refused as JSON); a byte still charged would make one of them a 503
      int parts = (int) ((budget + maxBody - 1) / maxBody);
      List<Future<Answer>> last = new ArrayList<>();
      for (int i = 0; i < parts; i++) {
        long size = i < parts - 1 ? budget / parts : budget - (parts - 1) * (budget / parts);
        last.add(pool.submit(() -> put(pool, port, "budget whole again", true, -1,
            RawHttp.filler(size))));
      }
      for (Future<Answer> f : last) {
        Answer a = record(statuses, f.get(2, TimeUnit.MINUTES));
        assertEquals(400, a.status(), "read whole, then refused as JSON: " + a);
      }
    } finally {
      pool.shutdownNow();
      rss.stop();
    }
    long hwm = rss.highWaterMark();
    assertTrue(gateway.isAlive(), "gateway alive" + tail(log));

    String gc = gcFigures(gcLog);
    System.out.printf(Locale.ROOT, "%nBodyMemoryProcessIT: JAVA_TOOL_OPTIONS=\"%s\", "
            + "-XX:MaxRAM=%d -XX:ActiveProcessorCount=%d; http.maxBodyBytes=%d, "
            + "http.maxInFlightBodyBytes=%d%n", jvmFlags, podLimit, cpus, maxBody, budget);
    System.out.printf(Locale.ROOT, "  RSS baseline %.1f MiB, peak per round %s MiB, "
            + "max sampled %.1f MiB (%d samples), VmHWM %.1f MiB, pod limit %.1f MiB%n",
        baseline / (double) MIB, mib(roundPeaks), rss.max() / (double) MIB, rss.samples(),
        hwm / (double) MIB, podLimit / (double) MIB);
    System.out.println("  " + gc);
    alone.forEach(line -> System.out.println("  alone, " + line));
    System.out.println("  answers by kind and status: " + statuses);

    assertTrue(rss.max() < podLimit, "sampled RSS " + rss.max() + " >= pod limit " + podLimit);
    assertTrue(hwm < podLimit, "VmHWM " + hwm + " >= pod limit " + podLimit);
    assertTrue(!Files.readString(log).contains("Terminating due to"), tail(log));
  }

  // ------------------------------------------------------------------------------ the gateway

  private int start(Path log, Path gcLog, String jvmFlags, long podLimit, int cpus, long budget)
      throws Exception {
    Path jar = GatewayProcess.jar();
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, """
        demo: { simulated: 2, hostAgent: false }
        libvirt: { enabled: false }
        http: { host: 127.0.0.1, port: 0, maxInFlightBodyBytes: %d }
        policy: { allow: [file-put, file-get] }
        shutdown: { drainMs: 1000 }
        """.formatted(budget));
    // the pod's flags as the pod passes them; MaxRAM and the CPU count make this JVM size its
    // heap, GC and pools as it does inside the container's limits
    List<String> command = new ArrayList<>(List.of("java", "-XX:MaxRAM=" + podLimit,
        "-XX:ActiveProcessorCount=" + cpus, "-Xlog:gc:file=" + gcLog));
    // for a diagnosis, e.g. -Dqga.it.jvmFlags=-XX:+HeapDumpOnOutOfMemoryError
    String extra = System.getProperty("qga.it.jvmFlags", "").trim();
    if (!extra.isEmpty()) {
      command.addAll(List.of(extra.split("\\s+")));
    }
    command.addAll(List.of("-jar", jar.toString(), "--config", config.toString()));
    ProcessBuilder builder = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().put("JAVA_TOOL_OPTIONS", jvmFlags);
    gateway = builder.start();
    return GatewayProcess.awaitHttpPort(gateway, log);
  }

  private void awaitGuests(int port, Path log) throws Exception {
    long deadline = System.currentTimeMillis() + 30_000;
    while (System.currentTimeMillis() < deadline) {
      Answer a = RawHttp.exchange(null, port, "guests", "GET", "/v1/guests", false, -1, null);
      JsonArray guests = new JsonObject(a.body()).getJsonArray("guests");
      long ready = guests.stream().filter(g -> "ready".equals(((JsonObject) g)
          .getString("state"))).count();
      if (ready == 2) {
        return;
      }
      Thread.sleep(100);
    }
    fail("sim-1 and sim-2 not ready" + tail(log));
  }

  // -------------------------------------------------------------------------- the requests

  /** The kinds of request and the answers each may get. */
  private static final Map<String, Set<Integer>> ALLOWED = Map.of(
      "60 MiB Content-Length", Set.of(413),
      "100 MB chunked", Set.of(413, 503),
      "~19 MB file-put JSON", Set.of(200, 503),
      "30 MiB chunked garbage", Set.of(400, 503));

  private static void check(Answer a, long budget) {
    Set<Integer> allowed = ALLOWED.get(a.kind());
    assertNotNull(allowed, a.kind());
    assertTrue(allowed.contains(a.status()), a.toString());
    JsonObject body = new JsonObject(a.body());
    if (a.status() == 200) {
      assertEquals(JSON_PUT_BYTES, body.getJsonObject("return").getLong("size"), a.toString());
      return;
    }
    JsonObject error = body.getJsonObject("error");
    assertNotNull(error, a.toString());
    assertEquals(a.status(), error.getInteger("code"), a.toString());
    assertTrue(!error.getString("message", "").isEmpty(), a.toString());
    if (a.status() == 503) {
      assertEquals("1", a.retryAfter(), "503 says when to retry: " + a);
      assertTrue(error.getString("message").contains(Long.toString(budget)), a.toString());
    }
    if (a.status() == 413 || a.status() == 503) {
      // refused at the first byte over: never much more than the limit read
      assertTrue(a.closed(), "the connection is closed after a refusal: " + a);
    }
  }

  private static Answer record(Map<String, Map<Integer, Integer>> statuses, Answer a) {
    synchronized (statuses) {
      statuses.computeIfAbsent(a.kind(), k -> new TreeMap<>()).merge(a.status(), 1, Integer::sum);
    }
    return a;
  }

  /** A body for agent.file-put of sim-2, which gets a coded answer whatever it is. */
  private static Answer put(ExecutorService pool, int port, String kind, boolean chunked,
                            long contentLength, RawHttp.Body body) throws Exception {
    return RawHttp.exchange(pool, port, kind, "POST", "/v1/guests/sim-2/commands/file-put",
        chunked, contentLength, body, "Content-Type", "application/json");
  }

  /** A streamed upload, retried after Retry-After while the budget is full. */
  private static Answer streamWithRetries(ExecutorService pool, int port, int stream, int seed)
      throws Exception {
    for (int attempt = 0; attempt < 60; attempt++) {
      boolean chunked = stream % 2 == 1;
      Answer a = RawHttp.exchange(pool, port, "streamed upload 12 MiB", "PUT",
          "/v1/guests/sim-1/files?path=/upload-" + stream + "&mode=w", chunked,
          chunked ? -1 : STREAM_BYTES, (out, answered) -> random(out, seed, STREAM_BYTES));
      if (a.status() != 503) {
        return a;
      }
      assertNotNull(a.retryAfter(), a.toString());
      Thread.sleep(Long.parseLong(a.retryAfter()) * 1000);
    }
    return fail("a streamed upload got 503 sixty times");
  }

  private static void verifyAndTruncate(ExecutorService pool, int port, int stream, int seed)
      throws Exception {
    byte[] get = ("{\"path\": \"/upload-" + stream + "\"}").getBytes(StandardCharsets.UTF_8);
    Answer a = RawHttp.exchange(pool, port, "file-get", "POST",
        "/v1/guests/sim-1/commands/file-get", false, get.length, RawHttp.bytes(get));
    assertEquals(200, a.status(), a.toString());
    byte[] content = Base64.getDecoder().decode(new JsonObject(a.body()).getJsonObject("return")
        .getString("content-b64"));
    MessageDigest expected = MessageDigest.getInstance("SHA-256");
    random(new DigestSink(expected), seed, STREAM_BYTES);
    assertEquals(HexFormat.of().formatHex(expected.digest()),
        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content)),
        "upload " + stream + " arrived intact");
    // the simulated guest keeps files in the gateway's heap: give that memory back
    Answer empty = RawHttp.exchange(pool, port, "truncate", "PUT",
        "/v1/guests/sim-1/files?path=/upload-" + stream + "&mode=w", false, 0,
        RawHttp.bytes(new byte[0]));
    assertEquals(200, empty.status(), empty.toString());
  }

  private static long jsonPutLength() {
    return "{\"path\": \"/json-put\", \"content-b64\": \"".length()
        + 4L * ((JSON_PUT_BYTES + 2) / 3) + "\"}".length();
  }

  private static void jsonPut(OutputStream out, int seed) throws IOException {
    out.write("{\"path\": \"/json-put\", \"content-b64\": \"".getBytes(StandardCharsets.US_ASCII));
    OutputStream b64 = Base64.getEncoder().wrap(new FilterOutputStream(out) {
      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
      }

      @Override
      public void close() {
        // keep the connection's stream open
      }
    });
    random(b64, seed, JSON_PUT_BYTES);
    b64.close();
    out.write("\"}".getBytes(StandardCharsets.US_ASCII));
  }


  private static void random(OutputStream out, int seed, int bytes) throws IOException {
    Random random = new Random(seed);
    byte[] block = new byte[64 * 1024];
    for (int left = bytes; left > 0; left -= block.length) {
      random.nextBytes(block);
      out.write(block, 0, Math.min(block.length, left));
    }
  }

  private static final class DigestSink extends OutputStream {
    private final MessageDigest digest;

    DigestSink(MessageDigest digest) {
      this.digest = digest;
    }

    @Override
    public void write(int b) {
      digest.update((byte) b);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      digest.update(b, off, len);
    }
  }

  // ---------------------------------------------------------------------------- the figures

  /** Samples VmRSS of a process every 10 ms; reads VmHWM, the kernel's own peak. */
  static final class RssSampler implements Runnable {
    private final Path status;
    private final AtomicLong max = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();
    private final AtomicLong samples = new AtomicLong();
    private volatile boolean stopped;

    RssSampler(long pid) {
      this.status = Path.of("/proc/" + pid + "/status");
    }

    @Override
    public void run() {
      while (!stopped) {
        try {
          long rss = field("VmRSS");
          max.accumulateAndGet(rss, Math::max);
          peak.accumulateAndGet(rss, Math::max);
          samples.incrementAndGet();
          Thread.sleep(10);
        } catch (IOException | InterruptedException e) {
          return;
        }
      }
    }

    long current() throws IOException {
      return field("VmRSS");
    }

    long highWaterMark() throws IOException {
      return field("VmHWM");
    }

    long max() {
      return max.get();
    }

    long peak() {
      return peak.get();
    }

    void resetPeak() {
      peak.set(0);
    }

    long samples() {
      return samples.get();
    }

    void stop() {
      stopped = true;
    }

    private long field(String name) throws IOException {
      for (String line : Files.readAllLines(status)) {
        if (line.startsWith(name + ":")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
      throw new IOException(name + " not in " + status);
    }
  }

  private static String mib(List<Long> values) {
    List<String> out = new ArrayList<>();
    for (long v : values) {
      out.add(String.format(Locale.ROOT, "%.1f", v / (double) MIB));
    }
    return String.join(" / ", out);
  }

  /** The heap after each collection at its largest, and the heap's capacity, from -Xlog:gc. */
  private static String gcFigures(Path gcLog) throws IOException {
    Pattern pause = Pattern.compile("(\\d+)M->(\\d+)M\\((\\d+)M\\)");
    long maxAfter = 0;
    long capacity = 0;
    int pauses = 0;
    for (String line : Files.readAllLines(gcLog)) {
      Matcher m = pause.matcher(line);
      if (m.find()) {
        pauses++;
        maxAfter = Math.max(maxAfter, Long.parseLong(m.group(2)));
        capacity = Math.max(capacity, Long.parseLong(m.group(3)));
      }
    }
    return "GC: " + pauses + " collections, heap after a collection at most " + maxAfter
        + " MiB, heap committed at most " + capacity + " MiB";
  }
}
