package io.qgagateway.libvirt;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.api.Addresses;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * docs/BENCHMARKS.md, "libvirt": sequential guest-ping to one TCG domain through libvirt, the
 * gateway (event bus and HTTP) against python-libvirt's {@code qemuAgentCommand} in a loop
 * ({@code .ci/libvirt/pyping.py --serve}, one process for the whole run), interleaved in small
 * blocks on the same domain ({@code -Dbench.blocks}, {@code -Dbench.block}); plus how fast the gateway notices an agent restart and
 * answers a guest that is paused or suspended. Run by .ci/libvirt/bench (not a timed test).
 */
@Tag("bench")
@Tag("libvirt")
class LibvirtLatencyBench {

  static final String NAME = "qga-bench-" + ProcessHandle.current().pid();
  static final int BLOCK = Integer.getInteger("bench.block", 200);
  static final int BLOCKS = Integer.getInteger("bench.blocks", 25);
  static final int WARMUP = Integer.getInteger("bench.warmup", 500);

  final List<String> report = new ArrayList<>();

  @Test
  void latencyThroughLibvirt() throws Exception {
    String guest = System.getProperty("qga.libvirt.guest");
    Path template = Path.of(System.getProperty("basedir", ".")).resolve(
        ".ci/libvirt/domain.xml.in");
    Path work = Files.createTempDirectory("qga-libvirt-bench");
    Path xml = work.resolve("domain.xml");
    Files.writeString(xml, Files.readString(template).replace("@NAME@", NAME)
        .replace("@GUEST@", Path.of(guest).toAbsolutePath().toString())
        .replace("@LOG@", work.resolve("console.log").toString()));
    LibvirtTierTest.virsh("define", xml.toString());
    LibvirtTierTest.virsh("start", NAME);
    Vertx vertx = TestVertx.create();
    Gateway gateway = null;
    try {
      List<JsonObject> events = new CopyOnWriteArrayList<>();
      vertx.eventBus().<JsonObject>consumer(Addresses.EVENTS, m -> {
        if (NAME.equals(m.body().getString("guest"))) {
          events.add(m.body().copy().put("at", System.nanoTime()));
        }
      }).completion().await(10, TimeUnit.SECONDS);
      JsonObject config = new JsonObject()
          .put("node", new JsonObject().put("name", "libvirt-bench"))
          .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
          .put("libvirt", new JsonObject().put("enabled", true))
          .put("policy", new JsonObject().put("allow", new JsonArray().add("guest-exec")));
      gateway = Gateway.start(vertx, GatewayConfig.parse(config), new SimpleMeterRegistry(),
          new Health(false)).await(60, TimeUnit.SECONDS);
      int port = gateway.httpPort();
      waitReady(vertx, 90_000);

      JnaHypervisor direct = new JnaHypervisor("qemu:///system");
      direct.open();
      String uuid = direct.activeDomains().stream().filter(d -> d.name().equals(NAME))
          .findFirst().orElseThrow().uuid();
      KeptAliveHttp http =
          new KeptAliveHttp(port, "/v1/guests/" + NAME + "/commands/ping", "{}");
      JsonObject busPing = new JsonObject().put("guest", NAME);
      DeliveryOptions opts = new DeliveryOptions().setSendTimeout(10_000);

      PyClient py = new PyClient(false);
      PyClient pyLoop = new PyClient(true);
      List<Client> clients = List.of(
          new Client("python-libvirt qemuAgentCommand", py::block),
          new Client("gateway, event bus agent.ping", timed(() ->
              vertx.eventBus().<JsonObject>request(Addresses.publicAddress("ping"), busPing, opts)
                  .await(10, TimeUnit.SECONDS))),
          new Client("gateway, event bus, caller on an event loop",
              fromEventLoop(vertx, busPing, opts)),
          new Client("gateway, HTTP POST .../commands/ping", timed(http::call)),
          new Client("JNA binding alone (JnaHypervisor.agentCommand)", timed(() ->
              direct.agentCommand(uuid, "{\"execute\":\"guest-ping\"}", 5))),
          new Client("python-libvirt, libvirt's event loop running", pyLoop::block));
      try {
        interleaved(clients);
      } finally {
        py.close();
        pyLoop.close();
        http.close();
      }
      direct.close();

      // a guest that cannot take commands: answered from libvirt's view, at once
      LibvirtTierTest.virsh("suspend", NAME);
      waitState(vertx, s -> !"ready".equals(s), 10_000);
      line(stats503(vertx, "paused domain: 503 over the event bus", 500));
      LibvirtTierTest.virsh("resume", NAME);
      waitReady(vertx, 30_000);

      // agent restarts: from guest-exec's reply (the kill runs right after) to the event
      long[] noticed = new long[5];
      for (int i = 0; i < noticed.length; i++) {
        // QEMU reports a port change at most once a second: leave it a clean second
        Thread.sleep(1500);
        int before = events.size();
        long t0 = System.nanoTime();
        vertx.eventBus().<JsonObject>request(Addresses.publicAddress("exec"),
            new JsonObject().put("guest", NAME).put("arguments", new JsonObject()
                .put("path", "/bin/sh").put("arg", new JsonArray().add("-c")
                    .add("kill -KILL $(pidof qemu-ga)"))), opts).await(10, TimeUnit.SECONDS);
        long replied = System.nanoTime();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        JsonObject disconnected = null;
        while (disconnected == null && System.nanoTime() < deadline) {
          for (int j = before; j < events.size(); j++) {
            if ("disconnected".equals(events.get(j).getString("type"))) {
              disconnected = events.get(j);
            }
          }
          Thread.sleep(5);
        }
        if (disconnected == null) {
          fail("no disconnected event after killing the agent");
        }
        noticed[i] = TimeUnit.NANOSECONDS.toMillis(disconnected.getLong("at") - replied);
        waitReady(vertx, 30_000);
        report.add("  (exec round trip " + TimeUnit.NANOSECONDS.toMillis(replied - t0) + " ms)");
      }
      line("agent restart (kill -KILL qemu-ga) noticed, ms after guest-exec replied: "
          + Arrays.toString(noticed));

      LibvirtTierTest.virsh("qemu-agent-command", NAME, "{\"execute\":\"guest-ping\"}");
      JsonObject suspended = vertx.eventBus().<JsonObject>request(
          Addresses.publicAddress("suspend-ram"), new JsonObject().put("guest", NAME), opts)
          .map(Message::body).await(20, TimeUnit.SECONDS);
      assertEquals("suspended", suspended.getString("reached"));
      line(stats503(vertx, "suspended domain: 503 over the event bus", 500));
      JsonObject woken = vertx.eventBus().<JsonObject>request(
          Addresses.publicAddress("wakeup"), new JsonObject().put("guest", NAME), opts)
          .map(Message::body).await(20, TimeUnit.SECONDS);
      line("wake-up reply: " + woken.encode());
    } finally {
      if (gateway != null) {
        gateway.stop().await(30, TimeUnit.SECONDS);
      }
      vertx.close().await(30, TimeUnit.SECONDS);
      LibvirtTierTest.virshQuiet("destroy", NAME);
      LibvirtTierTest.virshQuiet("undefine", NAME);
      String out = String.join("\n", report) + "\n";
      String file = System.getProperty("bench.out");
      if (file != null) {
        Files.writeString(Path.of(file), out);
      }
    }
  }

  /** .ci/libvirt/pyping.py --serve: python-libvirt's loop, a block at a time. */
  static final class PyClient {
    private final Process process;
    private final java.io.PrintWriter in;
    private final java.io.BufferedReader out;

    PyClient(boolean eventLoop) throws java.io.IOException {
      List<String> command = new ArrayList<>(List.of("/usr/bin/python3",
          Path.of(System.getProperty("basedir", ".")).resolve(".ci/libvirt/pyping.py")
              .toString(), NAME, "--serve"));
      if (eventLoop) {
        command.add("--event-loop");
      }
      process = new ProcessBuilder(command).start();
      in = new java.io.PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
      out = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8));
    }

    long[] block(int n) throws Exception {
      in.println(n);
      String reply = out.readLine();
      if (reply == null) {
        throw new IllegalStateException("pyping.py ended: "
            + new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
      }
      JsonArray ns = new JsonObject(reply).getJsonArray("ns");
      long[] samples = new long[ns.size()];
      for (int i = 0; i < samples.length; i++) {
        samples[i] = ns.getLong(i);
      }
      return samples;
    }

    void close() throws InterruptedException {
      in.close();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroy();
      }
    }
  }

  /**
   * A blocking HTTP/1.1 client on one kept-alive connection, as python's loop is a blocking
   * client of libvirtd: the gateway's HTTP cost without a client library's own threads.
   */
  static final class KeptAliveHttp implements AutoCloseable {
    private final java.net.Socket socket;
    private final java.io.OutputStream out;
    private final java.io.BufferedInputStream in;
    private final byte[] request;

    KeptAliveHttp(int port, String path, String body) throws java.io.IOException {
      socket = new java.net.Socket("127.0.0.1", port);
      socket.setTcpNoDelay(true);
      out = socket.getOutputStream();
      in = new java.io.BufferedInputStream(socket.getInputStream());
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      request = ("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "Content-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n"
          + body).getBytes(StandardCharsets.UTF_8);
    }

    void call() throws java.io.IOException {
      out.write(request);
      out.flush();
      String status = line();
      int length = -1;
      for (String h = line(); !h.isEmpty(); h = line()) {
        if (h.regionMatches(true, 0, "content-length:", 0, 15)) {
          length = Integer.parseInt(h.substring(15).trim());
        }
      }
      byte[] reply = in.readNBytes(length);
      if (!status.startsWith("HTTP/1.1 200")) {
        throw new IllegalStateException(status + " " + new String(reply, StandardCharsets.UTF_8));
      }
    }

    private String line() throws java.io.IOException {
      StringBuilder b = new StringBuilder();
      for (int c = in.read(); c != '\n'; c = in.read()) {
        if (c < 0) {
          throw new java.io.EOFException("the gateway closed the connection");
        }
        if (c != '\r') {
          b.append((char) c);
        }
      }
      return b.toString();
    }

    @Override
    public void close() throws java.io.IOException {
      socket.close();
    }
  }

  /** One client of the comparison: makes {@code n} sequential pings, returns each one's ns. */
  record Client(String name, Block block) {
  }

  @FunctionalInterface
  interface Block {
    long[] run(int n) throws Exception;
  }

  @FunctionalInterface
  interface Call {
    void run() throws Exception;
  }

  private static Block timed(Call call) {
    return n -> {
      long[] out = new long[n];
      for (int i = 0; i < n; i++) {
        long t0 = System.nanoTime();
        call.run();
        out[i] = System.nanoTime() - t0;
      }
      return out;
    };
  }

  /**
   * A Vert.x caller: each request sent from the caller's event loop when the previous reply
   * arrives there, as a verticle makes them; no blocking thread waits between.
   */
  private static Block fromEventLoop(Vertx vertx, JsonObject body, DeliveryOptions opts) {
    io.vertx.core.Context loop = vertx.getOrCreateContext();
    return n -> {
      long[] out = new long[n];
      java.util.concurrent.CompletableFuture<Void> done =
          new java.util.concurrent.CompletableFuture<>();
      Runnable[] step = new Runnable[1];
      int[] i = {0};
      step[0] = () -> {
        if (i[0] == n) {
          done.complete(null);
          return;
        }
        long t0 = System.nanoTime();
        vertx.eventBus().request(Addresses.publicAddress("ping"), body, opts).onComplete(r -> {
          if (r.failed()) {
            done.completeExceptionally(r.cause());
            return;
          }
          out[i[0]++] = System.nanoTime() - t0;
          step[0].run();
        });
      };
      loop.runOnContext(x -> step[0].run());
      done.get(60, TimeUnit.SECONDS);
      return out;
    };
  }

  /**
   * Blocks of {@link #BLOCK} pings per client, one client after another, in an order that
   * rotates each block, {@link #BLOCKS} times: every client meets the same load of the moment
   * (other engineers' builds share the two cores). Figures over all samples of each client, and
   * the event bus against python block by block.
   */
  private void interleaved(List<Client> clients) throws Exception {
    for (Client c : clients) {
      c.block().run(WARMUP);
    }
    int k = clients.size();
    long[][] all = new long[k][BLOCKS * BLOCK];
    long[] busy = new long[k];
    double[] p50Diff = new double[BLOCKS];
    for (int b = 0; b < BLOCKS; b++) {
      double[] p50 = new double[k];
      for (int j = 0; j < k; j++) {
        int i = (j + b) % k;
        long t0 = System.nanoTime();
        long[] samples = clients.get(i).block().run(BLOCK);
        busy[i] += System.nanoTime() - t0;
        System.arraycopy(samples, 0, all[i], b * BLOCK, BLOCK);
        Arrays.sort(samples);
        p50[i] = pct(samples, 0.5);
      }
      p50Diff[b] = p50[1] - p50[0];
    }
    line("libvirt latency: sequential guest-ping to one TCG domain (" + NAME + "), " + BLOCKS
        + " blocks of " + BLOCK + " per client, interleaved (order rotating each block), after "
        + WARMUP + " warm-up each");
    line(String.format(Locale.ROOT, "%-48s %8s %8s %8s %8s %8s", "client", "p50 ms",
        "p90 ms", "p99 ms", "max ms", "ops/s"));
    for (int i = 0; i < k; i++) {
      long[] s = all[i];
      Arrays.sort(s);
      line(String.format(Locale.ROOT, "%-48s %8.3f %8.3f %8.3f %8.2f %8.0f",
          clients.get(i).name(), pct(s, 0.5), pct(s, 0.9), pct(s, 0.99), s[s.length - 1] / 1e6,
          s.length / (busy[i] / 1e9)));
    }
    // client 0 is python, 1 the event bus from a blocking thread
    for (int i = 1; i < k; i++) {
      line(String.format(Locale.ROOT, "%s minus python: p50 %+.3f ms, p99 %+.3f ms",
          clients.get(i).name(), pct(all[i], 0.5) - pct(all[0], 0.5),
          pct(all[i], 0.99) - pct(all[0], 0.99)));
    }
    double[] d = p50Diff.clone();
    Arrays.sort(d);
    long notWorse = Arrays.stream(p50Diff).filter(x -> x <= 0).count();
    line(String.format(Locale.ROOT, "block by block, event bus p50 minus python p50: median "
        + "%+.3f ms, quartiles %+.3f..%+.3f, range %+.3f..%+.3f; not worse in %d of %d blocks",
        d[d.length / 2], d[d.length / 4], d[d.length * 3 / 4], d[0], d[d.length - 1], notWorse,
        d.length));
  }

  private void line(String s) {
    System.out.println(s);
    report.add(s);
  }

  private static double pct(long[] sorted, double p) {
    return sorted[Math.min(sorted.length - 1, (int) (sorted.length * p))] / 1e6;
  }

  private static String stats503(Vertx vertx, String what, int n) throws Exception {
    long[] samples = new long[n];
    JsonObject body = new JsonObject().put("guest", NAME).put("timeoutMs", 10_000);
    for (int i = 0; i < n; i++) {
      long t0 = System.nanoTime();
      try {
        vertx.eventBus().request(Addresses.publicAddress("ping"), body)
            .await(15, TimeUnit.SECONDS);
        fail("expected 503");
      } catch (ReplyException e) {
        assertEquals(503, e.failureCode(), e.getMessage());
      }
      samples[i] = System.nanoTime() - t0;
    }
    Arrays.sort(samples);
    return String.format(Locale.ROOT, "%-44s %8.3f %8.3f %8.3f %8.2f", what, pct(samples, 0.5),
        pct(samples, 0.9), pct(samples, 0.99), samples[n - 1] / 1e6);
  }

  private static String state(Vertx vertx) {
    try {
      JsonObject r = vertx.eventBus().<JsonObject>request(Addresses.GUESTS,
          new JsonObject().put("guest", NAME)).map(Message::body).await(10, TimeUnit.SECONDS);
      return r.getJsonArray("guests").getJsonObject(0).getString("state");
    } catch (Exception e) {
      return "absent";
    }
  }

  private static void waitReady(Vertx vertx, long ms) throws InterruptedException {
    waitState(vertx, "ready"::equals, ms);
  }

  private static void waitState(Vertx vertx, java.util.function.Predicate<String> ok, long ms)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + ms;
    while (!ok.test(state(vertx))) {
      if (System.currentTimeMillis() > deadline) {
        fail("guest " + NAME + " not in the expected state within " + ms + " ms");
      }
      Thread.sleep(50);
    }
  }
}
