package io.qgagateway.vm;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.GuestLink;
import io.qgagateway.link.LinkState;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The gateway against a real qemu-ga inside a tiny VM booted under QEMU TCG, over the real
 * virtio-serial path (the VM's chardev socket). On demand only ({@code @Tag("vm")}, excluded by
 * default): it needs the guest that {@code .ci/vm/build-guest.sh} builds, and QEMU. The guest
 * directory is {@code -Dqga.vm.dir} (default {@code target/vm}); the script is run when it lacks
 * the kernel or the initrd.
 *
 * <p>The order matters: before the gateway starts, a raw client leaves requests behind whose
 * replies virtio-serial delivers to the next client (the gateway's first sync must drop them);
 * the last test shuts the VM down.
 */
@Tag("vm")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class VirtioSerialVmTest {

  private static final String GUEST = "vm";
  private static final Duration BOOT = Duration.ofSeconds(120);
  /** Requests the raw client sends and abandons before the gateway connects. */
  private static final int STALE_REQUESTS = 20;

  @TempDir
  static Path dir;

  private static Process qemu;
  private static Vertx vertx;
  private static GatewayHarness harness;
  private static SimpleMeterRegistry registry;
  /** guest-ping round trips of a raw client on the same VM, sorted, for comparison. */
  private static long[] rawPingMicros;

  @BeforeAll
  @Timeout(value = 15, unit = TimeUnit.MINUTES) // the first run may install QEMU and a kernel
  static void boot() throws Exception {
    Path guestDir = Path.of(System.getProperty("qga.vm.dir", "target/vm")).toAbsolutePath();
    ensureGuest(guestDir);
    Path socket = dir.resolve(GUEST + ".sock");
    List<String> command = List.of("qemu-system-x86_64",
        "-machine", "q35,accel=tcg", "-m", "256", "-nographic", "-no-reboot", "-nic", "none",
        "-kernel", guestDir.resolve("vmlinuz").toString(),
        "-initrd", guestDir.resolve("initrd.cpio.gz").toString(),
        "-append", "console=ttyS0 quiet panic=-1",
        "-device", "virtio-serial-pci",
        "-chardev", "socket,id=qga0,path=" + socket + ",server=on,wait=off",
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0");
    long started = System.nanoTime();
    try {
      qemu = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(dir.resolve("console.log").toFile()).start();
    } catch (IOException e) {
      fail("cannot run qemu-system-x86_64 (.ci/vm/build-guest.sh installs it, as root)", e);
    }
    GatewayHarness.waitFor("QEMU's chardev socket", () -> Files.exists(socket) || !qemu.isAlive(),
        Duration.ofSeconds(30));
    assertTrue(qemu.isAlive(), () -> "QEMU exited: " + console());

    awaitAgent(socket);
    System.out.printf("VirtioSerialVmTest: qemu-ga in the VM answered %d ms after QEMU started%n",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));

    rawPingMicros = rawPings(socket, 2_000);
    abandonRequests(socket);

    vertx = TestVertx.create();
    harness = new GatewayHarness(vertx, dir);
    registry = new SimpleMeterRegistry();
    harness.start(harness.config(GUEST), registry);
    harness.awaitReady(GUEST);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (harness != null) {
        harness.close();
      }
      if (vertx != null) {
        vertx.close().await(10, TimeUnit.SECONDS);
      }
    } finally {
      if (qemu != null && qemu.isAlive()) {
        qemu.destroy();
        if (!qemu.waitFor(10, TimeUnit.SECONDS)) {
          qemu.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
    }
  }

  /** Builds the guest with the script when the directory lacks it; fails saying how otherwise. */
  private static void ensureGuest(Path guestDir) throws Exception {
    if (Files.isRegularFile(guestDir.resolve("vmlinuz"))
        && Files.isRegularFile(guestDir.resolve("initrd.cpio.gz"))) {
      return;
    }
    Path script = Path.of(".ci/vm/build-guest.sh").toAbsolutePath();
    Path log = Files.createTempFile("build-guest", ".log");
    Process p = new ProcessBuilder("bash", script.toString(), guestDir.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      p.destroyForcibly();
      fail("no guest in " + guestDir + " and " + script + " " + guestDir + " failed (run it as "
          + "root to install QEMU and a kernel):\n" + Files.readString(log));
    }
  }

  /**
   * Waits until qemu-ga in the guest answers a guest-sync-delimited. A probe abandoned while
   * the guest boots is answered to the next probe, so each probe scans for its own id.
   */
  private static void awaitAgent(Path socket) throws Exception {
    long deadline = System.nanoTime() + BOOT.toNanos();
    for (int id = 1000; System.nanoTime() < deadline; id++) {
      assertTrue(qemu.isAlive(), () -> "QEMU exited while booting: " + console());
      try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        ch.connect(UnixDomainSocketAddress.of(socket));
        write(ch, "\u00ff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":" + id + "}}");
        String expected = "{\"return\": " + id + "}";
        String seen = readUntil(ch, expected, 2_000);
        if (seen.contains(expected)) {
          return;
        }
      }
    }
    fail("qemu-ga in the VM did not answer within " + BOOT + "; console:\n" + console());
  }

  /** Sequential guest-ping round trips of a blocking raw client (after a warm-up), sorted. */
  private static long[] rawPings(Path socket, int n) throws IOException {
    long[] micros = new long[n];
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ByteBuffer in = ByteBuffer.allocate(4096);
      for (int i = -200; i < n; i++) {
        long t = System.nanoTime();
        write(ch, "{\"execute\":\"guest-ping\"}");
        in.clear();
        do {
          if (ch.read(in) < 0) {
            fail("EOF from the VM's agent socket");
          }
        } while (in.get(in.position() - 1) != '\n');
        if (i >= 0) {
          micros[i] = (System.nanoTime() - t) / 1_000;
        }
      }
    }
    Arrays.sort(micros);
    return micros;
  }

  /** Sends requests and disconnects before reading: virtio-serial keeps their replies. */
  private static void abandonRequests(Path socket) throws IOException {
    StringBuilder requests = new StringBuilder();
    for (int i = 0; i < STALE_REQUESTS; i++) {
      requests.append("{\"execute\":\"guest-get-osinfo\",\"id\":\"abandoned-").append(i)
          .append("\"}");
    }
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      write(ch, requests.toString());
    }
  }

  private static void write(SocketChannel ch, String text) throws IOException {
    // ISO-8859-1 keeps U+00FF a single 0xFF byte
    ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.ISO_8859_1));
    while (buffer.hasRemaining()) {
      ch.write(buffer);
    }
  }

  /** Reads until {@code expected} was seen, EOF or {@code timeoutMs}; returns what it read. */
  private static String readUntil(SocketChannel ch, String expected, long timeoutMs)
      throws IOException {
    ch.configureBlocking(false);
    ByteArrayOutputStream read = new ByteArrayOutputStream();
    ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    try (Selector selector = Selector.open()) {
      ch.register(selector, SelectionKey.OP_READ);
      while (System.nanoTime() < deadline) {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0 || selector.select(left) == 0) {
          continue;
        }
        selector.selectedKeys().clear();
        buffer.clear();
        int n = ch.read(buffer);
        if (n < 0) {
          break;
        }
        read.write(buffer.array(), 0, n);
        if (read.toString(StandardCharsets.ISO_8859_1).contains(expected)) {
          break;
        }
      }
    }
    return read.toString(StandardCharsets.ISO_8859_1);
  }

  private static String console() {
    try {
      return Files.readString(dir.resolve("console.log"), StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      return "(no console log: " + e + ")";
    }
  }

  private static double counted(String name, String kind) {
    return registry.find(name).tag("kind", kind).counters().stream()
        .mapToDouble(Counter::count).sum();
  }

  private static JsonObject call(String address) {
    return harness.call(address, GatewayHarness.body(GUEST));
  }

  @Test
  @Order(1)
  void firstSyncDropsTheRepliesOfAnAbandonedClient() {
    // the replies to the raw client's requests reached the gateway's connection, and its sync
    // dropped them; every later command gets its own reply
    GatewayHarness.waitFor("stale replies counted",
        () -> counted("qga.discarded", "stale_reply") >= 1);
    double stale = counted("qga.discarded", "stale_reply");
    System.out.printf("VirtioSerialVmTest: the first sync dropped %.0f stale replies of %d "
        + "abandoned requests%n", stale, STALE_REQUESTS);
    assertTrue(stale <= STALE_REQUESTS + 1, "stale replies: " + stale);
    assertEquals(new JsonObject().put("return", new JsonObject()), call("ping"));
    assertEquals("thawed", call("fsfreeze-status").getString("return"));
    assertEquals(stale, counted("qga.discarded", "stale_reply"),
        "no stale reply after the first sync");
  }

  @Test
  @Order(2)
  void ping() {
    assertEquals(new JsonObject().put("return", new JsonObject()), call("ping"));
  }

  @Test
  @Order(3)
  void infoIsTheAgentInTheGuest() throws Exception {
    JsonObject info = call("info").getJsonObject("return");
    String version = info.getString("version");
    assertEquals(hostAgentVersion(), version, "the guest runs the host's qemu-ga");
    assertTrue(version.startsWith("7.2."), "Debian 12's qemu-ga 7.2.x: " + version);
    assertTrue(info.getJsonArray("supported_commands").stream()
        .anyMatch(c -> "guest-shutdown".equals(((JsonObject) c).getString("name"))
            && ((JsonObject) c).getBoolean("enabled")), info.encode());
    assertEquals(version, harness.link(GUEST).agentInfo().getString("version"));
  }

  @Test
  @Order(4)
  void osInfoIsTheGuests() throws Exception {
    JsonObject os = call("get-osinfo").getJsonObject("return");
    assertEquals("qga-test", os.getString("id"), os.encode());
    String kernel = Files.readString(Path.of(System.getProperty("qga.vm.dir", "target/vm"))
        .resolve("kernel-release")).trim();
    assertEquals(kernel, os.getString("kernel-release"), os.encode());
    assertEquals("x86_64", os.getString("machine"), os.encode());
  }

  @Test
  @Order(5)
  void sync() {
    Object rtt = call("sync").getJsonObject("return").getValue("rttMicros");
    assertInstanceOf(Number.class, rtt);
    assertTrue(((Number) rtt).longValue() > 0, "rttMicros " + rtt);
    assertEquals(new JsonObject().put("return", new JsonObject()), call("ping"));
  }

  @Test
  @Order(6)
  void fsfreezeStatus() {
    assertEquals("thawed", call("fsfreeze-status").getString("return"));
  }

  /**
   * Not a benchmark: figures for docs/ARCHITECTURE.md, printed, with a loose bound. Three
   * callers of guest-ping through the gateway, each 2,000 sequential after 200 warm-up: the test
   * thread blocking on each reply, a caller on its own event loop, and {@code GuestLink.execute}
   * on the link's event loop; and the raw client measured before the gateway started.
   */
  @Test
  @Order(7)
  void pingLatencyThroughTheVm() {
    int n = 2_000;
    long[] blocking = new long[n];
    for (int i = -200; i < n; i++) {
      long t = System.nanoTime();
      call("ping");
      if (i >= 0) {
        blocking[i] = (System.nanoTime() - t) / 1_000;
      }
    }
    Arrays.sort(blocking);
    long[] eventLoop = timed(vertx.getOrCreateContext(), n,
        () -> harness.request("ping", GatewayHarness.body(GUEST)));
    AgentChannel link = harness.link(GUEST);
    long[] linkOnly = timed(link.context(), n,
        () -> link.execute("guest-ping", null, 5_000, true));
    System.out.printf("VirtioSerialVmTest: guest-ping through a TCG VM, %d sequential, "
        + "p50/p90/p99 us: raw client %s; GuestLink.execute %s; agent.ping from an event loop %s; "
        + "agent.ping from a blocking thread %s%n", n, percentiles(rawPingMicros),
        percentiles(linkOnly), percentiles(eventLoop), percentiles(blocking));
    assertTrue(blocking[n / 2] < 50_000, "p50 " + blocking[n / 2] + " us");
  }

  private static String percentiles(long[] sorted) {
    int n = sorted.length;
    return sorted[n / 2] + "/" + sorted[n * 9 / 10] + "/" + sorted[n * 99 / 100];
  }

  /** {@code n} sequential calls of {@code call} on {@code context} after 200 warm-up, sorted. */
  private static long[] timed(Context context, int n, Supplier<Future<?>> call) {
    long[] micros = new long[n];
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> timedStep(-200, micros, call, done));
    GatewayHarness.await(done.future());
    Arrays.sort(micros);
    return micros;
  }

  private static void timedStep(int i, long[] micros, Supplier<Future<?>> call,
                                Promise<Void> done) {
    if (i == micros.length) {
      done.complete();
      return;
    }
    long t = System.nanoTime();
    call.get().onComplete(ar -> {
      if (ar.failed()) {
        done.fail(ar.cause());
        return;
      }
      if (i >= 0) {
        micros[i] = (System.nanoTime() - t) / 1_000;
      }
      timedStep(i + 1, micros, call, done);
    });
  }

  @Test
  @Order(100)
  void shutdownPowersTheVmOff() throws Exception {
    assertEquals(new JsonObject().put("sent", true), call("shutdown"));
    assertTrue(qemu.waitFor(60, TimeUnit.SECONDS), () -> "the VM did not power off; console:\n"
        + console());
    assertEquals(0, qemu.exitValue(), VirtioSerialVmTest::console);
    assertTrue(console().contains("reboot: Power down"), console());
    GatewayHarness.waitFor("link of " + GUEST + " disconnected", () -> {
      AgentChannel link = harness.link(GUEST);
      return link.state() == LinkState.DISCONNECTED || link.state() == LinkState.CONNECTING;
    });
    GatewayHarness.waitFor("disconnected event", () ->
        harness.eventTypes(GUEST).contains("disconnected"));
    assertFalse(harness.link(GUEST).state() == LinkState.READY);
  }

  private static String hostAgentVersion() throws Exception {
    Process p = new ProcessBuilder("/usr/sbin/qemu-ga", "--version").redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(10, TimeUnit.SECONDS);
    Matcher m = Pattern.compile("(\\d+\\.\\d+\\.\\d+)").matcher(out);
    assertTrue(m.find(), out);
    return m.group(1);
  }
}
