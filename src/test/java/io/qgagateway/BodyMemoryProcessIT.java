package io.qgagateway;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.k8s.ManifestsTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

  private static final Pattern STARTED = Pattern.compile("HTTP on 127\\.0\\.0\\.1:(\\d+)");
  private static final long MIB = 1024 * 1024;
  private static final int ROUNDS = 3;
  private static final int STREAMS = 4;
  private static final int STREAM_BYTES = 16 * 1024 * 1024;
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
    long budget = GatewayConfig.Http.DEFAULT_MAX_IN_FLIGHT_BODY_BYTES;
    Path log = dir.resolve("gateway.log");
    Path gcLog = dir.resolve("gc.log");
    int port = start(log, gcLog, jvmFlags, podLimit, cpus);
    awaitGuests(port, log);

    RssSampler rss = new RssSampler(gateway.pid());
    Thread sampler = new Thread(rss, "rss-sampler");
    sampler.setDaemon(true);
    sampler.start();
    long baseline = rss.current();

    Map<String, Map<Integer, Integer>> statuses = new TreeMap<>();
    List<Long> roundPeaks = new ArrayList<>();
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      for (int round = 1; round <= ROUNDS; round++) {
        rss.resetPeak();
        List<Future<Answer>> answers = new ArrayList<>();
        List<Future<Answer>> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          answers.add(pool.submit(() -> exchange(pool, port, "60 MiB Content-Length",
              "POST", "/v1/guests/sim-2/commands/file-put", false, 60 * MIB,
              out -> garbage(out, 60 * MIB))));
        }
        answers.add(pool.submit(() -> exchange(pool, port, "100 MB chunked", "POST",
            "/v1/guests/sim-2/commands/file-put", true, -1,
            out -> garbage(out, 100_000_000L))));
        for (int i = 0; i < 6; i++) {
          int seed = round * 100 + i;
          answers.add(pool.submit(() -> exchange(pool, port, "~19 MB file-put JSON", "POST",
              "/v1/guests/sim-2/commands/file-put", false, jsonPutLength(),
              out -> jsonPut(out, seed))));
        }
        for (int i = 0; i < 4; i++) {
          answers.add(pool.submit(() -> exchange(pool, port, "30 MiB chunked garbage", "POST",
              "/v1/guests/sim-2/commands/file-put", true, -1, out -> garbage(out, 30 * MIB))));
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
          assertEquals(200, a.status, a.toString());
          assertEquals(STREAM_BYTES, new JsonObject(a.body).getJsonObject("return")
              .getLong("size"), a.toString());
          verifyAndTruncate(pool, port, i, round * 1000 + i);
        }
        roundPeaks.add(rss.peak());
        assertTrue(gateway.isAlive(), "gateway alive after round " + round + tail(log));
      }

      // nothing leaked: two bodies of the whole per-request cap at once fill the budget
      // exactly (the default budget is twice the cap); a byte left over would make one a 503
      assertEquals(2 * maxBody, budget, "the leak check assumes the default sizes");
      List<Future<Answer>> last = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        last.add(pool.submit(() -> exchange(pool, port, "budget whole again", "POST",
            "/v1/guests/sim-2/commands/file-put", true, -1, out -> garbage(out, maxBody))));
      }
      for (Future<Answer> f : last) {
        Answer a = record(statuses, f.get(2, TimeUnit.MINUTES));
        assertEquals(400, a.status, "read whole, then refused as JSON: " + a);
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
    System.out.println("  answers by kind and status: " + statuses);

    assertTrue(rss.max() < podLimit, "sampled RSS " + rss.max() + " >= pod limit " + podLimit);
    assertTrue(hwm < podLimit, "VmHWM " + hwm + " >= pod limit " + podLimit);
    assertTrue(!Files.readString(log).contains("OutOfMemoryError"), tail(log));
  }

  // ------------------------------------------------------------------------------ the gateway

  private int start(Path log, Path gcLog, String jvmFlags, long podLimit, int cpus)
      throws Exception {
    Path jar = Path.of(System.getProperty("qga.jar", "target/qga-gateway.jar")).toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      fail("no gateway jar at " + jar + ": run mvn -B package first (mvn verify does)");
    }
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, """
        demo: { simulated: 2, hostAgent: false }
        http: { host: 127.0.0.1, port: 0 }
        policy: { allow: [file-put, file-get] }
        shutdown: { drainMs: 1000 }
        """);
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
    long deadline = System.currentTimeMillis() + 60_000;
    while (System.currentTimeMillis() < deadline) {
      if (!gateway.isAlive()) {
        fail("gateway exited with " + gateway.exitValue() + tail(log));
      }
      Matcher m = STARTED.matcher(Files.readString(log, StandardCharsets.UTF_8));
      if (m.find()) {
        return Integer.parseInt(m.group(1));
      }
      Thread.sleep(100);
    }
    return fail("gateway did not start within 60 s" + tail(log));
  }

  private void awaitGuests(int port, Path log) throws Exception {
    long deadline = System.currentTimeMillis() + 30_000;
    while (System.currentTimeMillis() < deadline) {
      Answer a = exchange(null, port, "guests", "GET", "/v1/guests", false, -1, null);
      JsonArray guests = new JsonObject(a.body).getJsonArray("guests");
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
    Set<Integer> allowed = ALLOWED.get(a.kind);
    assertNotNull(allowed, a.kind);
    assertTrue(allowed.contains(a.status), a.toString());
    JsonObject body = new JsonObject(a.body);
    if (a.status == 200) {
      assertEquals(JSON_PUT_BYTES, body.getJsonObject("return").getLong("size"), a.toString());
      return;
    }
    JsonObject error = body.getJsonObject("error");
    assertNotNull(error, a.toString());
    assertEquals(a.status, error.getInteger("code"), a.toString());
    assertTrue(!error.getString("message", "").isEmpty(), a.toString());
    if (a.status == 503) {
      assertEquals("1", a.retryAfter, "503 says when to retry: " + a);
      assertTrue(error.getString("message").contains(Long.toString(budget)), a.toString());
    }
    if (a.status == 413 || a.status == 503) {
      // refused at the first byte over: never much more than the limit read
      assertTrue(a.closed, "the connection is closed after a refusal: " + a);
    }
  }

  private static Answer record(Map<String, Map<Integer, Integer>> statuses, Answer a) {
    synchronized (statuses) {
      statuses.computeIfAbsent(a.kind, k -> new TreeMap<>()).merge(a.status, 1, Integer::sum);
    }
    return a;
  }

  /** A streamed upload, retried after Retry-After while the budget is full. */
  private static Answer streamWithRetries(ExecutorService pool, int port, int stream, int seed)
      throws Exception {
    for (int attempt = 0; attempt < 60; attempt++) {
      Answer a = exchange(pool, port, "streamed upload 16 MiB", "PUT",
          "/v1/guests/sim-1/files?path=/upload-" + stream + "&mode=w", stream % 2 == 1,
          stream % 2 == 1 ? -1 : STREAM_BYTES, out -> random(out, seed, STREAM_BYTES));
      if (a.status != 503) {
        return a;
      }
      assertNotNull(a.retryAfter, a.toString());
      Thread.sleep(Long.parseLong(a.retryAfter) * 1000);
    }
    return fail("a streamed upload got 503 sixty times");
  }

  private static void verifyAndTruncate(ExecutorService pool, int port, int stream, int seed)
      throws Exception {
    byte[] get = ("{\"path\": \"/upload-" + stream + "\"}").getBytes(StandardCharsets.UTF_8);
    Answer a = exchange(pool, port, "file-get", "POST", "/v1/guests/sim-1/commands/file-get",
        false, get.length, out -> out.write(get));
    assertEquals(200, a.status, a.toString());
    byte[] content = Base64.getDecoder().decode(new JsonObject(a.body).getJsonObject("return")
        .getString("content-b64"));
    MessageDigest expected = MessageDigest.getInstance("SHA-256");
    random(new DigestSink(expected), seed, STREAM_BYTES);
    assertEquals(HexFormat.of().formatHex(expected.digest()),
        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content)),
        "upload " + stream + " arrived intact");
    // the simulated guest keeps files in the gateway's heap: give that memory back
    Answer empty = exchange(pool, port, "truncate", "PUT",
        "/v1/guests/sim-1/files?path=/upload-" + stream + "&mode=w", false, 0, out -> { });
    assertEquals(200, empty.status, empty.toString());
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

  private static void garbage(OutputStream out, long bytes) throws IOException {
    byte[] block = new byte[64 * 1024];
    java.util.Arrays.fill(block, (byte) 'x');
    for (long left = bytes; left > 0; left -= block.length) {
      out.write(block, 0, (int) Math.min(block.length, left));
    }
  }

  private static void random(OutputStream out, int seed, int bytes) throws IOException {
    Random random = new Random(seed);
    byte[] block = new byte[64 * 1024];
    for (int left = bytes; left > 0; left -= block.length) {
      random.nextBytes(block);
      out.write(block, 0, Math.min(block.length, left));
    }
  }

  // ------------------------------------------------------------------- a raw HTTP/1.1 client

  interface Body {
    void write(OutputStream out) throws IOException;
  }

  record Answer(String kind, int status, String retryAfter, String body, boolean closed,
                long sent) {
    @Override
    public String toString() {
      return kind + ": " + status + (retryAfter == null ? "" : " Retry-After " + retryAfter)
          + " after " + sent + " bytes sent, " + body;
    }
  }

  /**
   * One request on its own connection, the body written by a thread of {@code pool} while this
   * one reads the answer, as a client does that sends without waiting: the answer may come
   * before the body is sent, and then the sending stops.
   */
  static Answer exchange(ExecutorService pool, int port, String kind, String method,
                         String path, boolean chunked, long contentLength, Body body)
      throws Exception {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(120_000);
      StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\n"
          + "Host: 127.0.0.1:" + port + "\r\nContent-Type: application/json\r\n");
      if (chunked) {
        head.append("Transfer-Encoding: chunked\r\n");
      } else if (contentLength >= 0) {
        head.append("Content-Length: ").append(contentLength).append("\r\n");
      }
      head.append("\r\n");
      Counting counting = new Counting(socket.getOutputStream());
      OutputStream raw = new BufferedOutputStream(counting, 64 * 1024);
      raw.write(head.toString().getBytes(StandardCharsets.US_ASCII));
      raw.flush();
      AtomicBoolean answered = new AtomicBoolean();
      Future<?> sending = null;
      if (body != null) {
        Runnable send = () -> {
          try {
            OutputStream out = chunked ? new Chunked(raw) : raw;
            body.write(out);
            if (chunked) {
              out.close();
            }
            raw.flush();
          } catch (IOException e) {
            // the gateway answered and closed: expected for refusals
          }
        };
        sending = pool == null ? null : pool.submit(send);
        if (pool == null) {
          send.run();
        }
      }
      InputStream in = new BufferedInputStream(socket.getInputStream());
      Map<String, String> headers = new LinkedHashMap<>();
      int status;
      do {
        String statusLine = line(in);
        status = Integer.parseInt(statusLine.split(" ")[1]);
        headers.clear();
        for (String h = line(in); !h.isEmpty(); h = line(in)) {
          int colon = h.indexOf(':');
          headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT),
              h.substring(colon + 1).trim());
        }
      } while (status == 100);
      int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
      byte[] content = in.readNBytes(length);
      answered.set(true);
      boolean closed = "close".equalsIgnoreCase(headers.get("connection"));
      if (closed) {
        // the gateway closes; a further read sees the end (or a reset)
        try {
          closed = in.read() == -1;
        } catch (IOException reset) {
          closed = true;
        }
      }
      socket.close();
      if (sending != null) {
        try {
          sending.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
          // a writer cut off by the close
        }
      }
      return new Answer(kind, status, headers.get("retry-after"),
          new String(content, StandardCharsets.UTF_8), closed, counting.count.get());
    }
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    for (int b = in.read(); b != '\n'; b = in.read()) {
      if (b == -1) {
        throw new IOException("connection closed before the answer (" + line.size()
            + " bytes of a line read)");
      }
      if (b != '\r') {
        line.write(b);
      }
    }
    return line.toString(StandardCharsets.US_ASCII);
  }

  /** Chunked transfer coding: each write one chunk, close the last chunk. */
  private static final class Chunked extends FilterOutputStream {
    Chunked(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return;
      }
      out.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.US_ASCII));
      out.write(b, off, len);
      out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
    }

    @Override
    public void close() throws IOException {
      out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
    }
  }

  private static final class Counting extends FilterOutputStream {
    final AtomicLong count = new AtomicLong();

    Counting(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count.addAndGet(len);
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

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return "\n--- log ---\n" + String.join("\n",
          lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "";
    }
  }
}
