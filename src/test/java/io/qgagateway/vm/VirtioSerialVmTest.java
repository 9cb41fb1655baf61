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

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
 * virtio-serial path (the VM's chardev socket). The real-VM tier ({@code @Tag("vm")}; see
 * {@link GuestVm} for the guest and README.md for how it runs).
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
  /** Requests the raw client sends and abandons before the gateway connects. */
  private static final int STALE_REQUESTS = 20;

  @TempDir
  static Path dir;

  private static GuestVm vm;
  private static Vertx vertx;
  private static GatewayHarness harness;
  private static SimpleMeterRegistry registry;
  /** guest-ping round trips of a raw client on the same VM, sorted, for comparison. */
  private static long[] rawPingMicros;

  @BeforeAll
  @Timeout(value = 15, unit = TimeUnit.MINUTES) // the first run may install QEMU and a kernel
  static void boot() throws Exception {
    vm = GuestVm.boot(dir, GUEST);
    System.out.printf("VirtioSerialVmTest: qemu-ga in the VM answered %d ms after QEMU started%n",
        vm.bootMillis);

    rawPingMicros = rawPings(vm.socket(), 2_000);
    abandonRequests(vm.socket());

    vertx = TestVertx.create();
    harness = new GatewayHarness(vertx, dir);
    registry = new SimpleMeterRegistry();
    harness.start(harness.config(GUEST), registry);
    harness.awaitReady(GUEST);
  }

  @AfterAll
  static void stop() throws Exception {
    GuestVm.shutDown(harness, vertx, vm);
  }

  /** Sequential guest-ping round trips of a blocking raw client (after a warm-up), sorted. */
  private static long[] rawPings(Path socket, int n) throws IOException {
    long[] micros = new long[n];
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ByteBuffer in = ByteBuffer.allocate(4096);
      for (int i = -200; i < n; i++) {
        long t = System.nanoTime();
        GuestVm.write(ch, "{\"execute\":\"guest-ping\"}");
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
      GuestVm.write(ch, requests.toString());
    }
  }

  private static String console() {
    return vm.console();
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
    Process qemu = vm.process();
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
