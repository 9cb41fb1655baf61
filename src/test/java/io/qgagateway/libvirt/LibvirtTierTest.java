package io.qgagateway.libvirt;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.api.Addresses;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.testing.GatewayProcess;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The libvirt tier: a real libvirtd, a TCG domain booting the test guest of
 * .ci/vm/build-guest.sh with a guest-agent channel, and the gateway serving it through libvirt,
 * checked through its HTTP API and event bus, with {@code virsh qemu-agent-command} answering
 * beside it before and after an agent restart and a reboot. Run by .ci/libvirt/tier, which
 * installs libvirt, starts the daemons and builds the guest ({@code -Dqga.libvirt.guest=DIR}).
 */
@Tag("libvirt")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LibvirtTierTest {

  static final String NAME = "qga-tier-" + ProcessHandle.current().pid();
  static final Duration BOOT = Duration.ofSeconds(60);

  static Vertx vertx;
  static Gateway gateway;
  static Path work;
  static HttpClient http;
  static int port;
  static final List<JsonObject> events = new CopyOnWriteArrayList<>();
  static MessageConsumer<JsonObject> eventConsumer;

  @BeforeAll
  static void startDomainAndGateway() throws Exception {
    String guest = System.getProperty("qga.libvirt.guest");
    if (guest == null || !Files.exists(Path.of(guest, "vmlinuz"))) {
      fail("-Dqga.libvirt.guest=DIR must name the build of .ci/vm/build-guest.sh; "
          + "run .ci/libvirt/tier");
    }
    Path template = Path.of(System.getProperty("basedir", ".")).resolve(
        ".ci/libvirt/domain.xml.in");
    work = Files.createTempDirectory("qga-libvirt-tier");
    Path xml = work.resolve("domain.xml");
    Files.writeString(xml, Files.readString(template).replace("@NAME@", NAME)
        .replace("@GUEST@", Path.of(guest).toAbsolutePath().toString())
        .replace("@LOG@", work.resolve("console.log").toString()));
    virsh("define", xml.toString());
    virsh("start", NAME);

    vertx = TestVertx.create();
    eventConsumer = vertx.eventBus().consumer(Addresses.EVENTS, m -> {
      if (NAME.equals(m.body().getString("guest"))) {
        events.add(m.body().copy().put("at", System.nanoTime()));
      }
    });
    eventConsumer.completion().await(10, TimeUnit.SECONDS);
    JsonObject config = new JsonObject()
        .put("node", new JsonObject().put("name", "libvirt-tier"))
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("libvirt", new JsonObject().put("enabled", true).put("uri", "qemu:///system")
            .put("keepStoppedMs", 60_000))
        .put("policy", new JsonObject().put("allow", new JsonArray().add("run")
            .add("file-get").add("file-put").add("guest-exec").add("guest-exec-status")))
        .put("shutdown", new JsonObject().put("drainMs", 1000));
    gateway = Gateway.start(vertx, GatewayConfig.parse(config),
        new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), new Health(false))
        .await(60, TimeUnit.SECONDS);
    port = gateway.httpPort();
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    awaitReady(BOOT);
  }

  @AfterAll
  static void stopAll() throws Exception {
    try {
      if (gateway != null) {
        gateway.stop().await(30, TimeUnit.SECONDS);
      }
      if (vertx != null) {
        vertx.close().await(30, TimeUnit.SECONDS);
      }
    } finally {
      virshQuiet("destroy", NAME);
      virshQuiet("undefine", NAME);
    }
  }

  // ---- the tests, in order: the last ones stop and restart the guest --------------------------

  @Test
  @Order(1)
  void readCommandsAnswerThroughHttpAndTheEventBus() throws Exception {
    assertEquals(new JsonObject(), post("ping", "{}").getJsonObject("return"));
    JsonObject info = post("info", "{}").getJsonObject("return");
    assertTrue(info.getString("version").length() > 0, info.encode());
    assertEquals("qga-test", post("get-osinfo", "{}").getJsonObject("return").getString("id"));
    assertTrue(post("get-vcpus", "{}").getJsonArray("return").size() >= 1);
    assertInstanceOf(JsonArray.class, post("network-get-interfaces", "{}").getValue("return"));
    assertInstanceOf(Number.class, post("get-time", "{}").getValue("return"));
    JsonObject viaBus = bus("get-host-name", new JsonObject());
    assertTrue(viaBus.getJsonObject("return").containsKey("host-name"), viaBus.encode());
    JsonObject listed = getJson("/v1/guests/" + NAME).getJsonArray("guests").getJsonObject(0);
    assertEquals("libvirt", listed.getString("transport"));
    assertEquals("ready", listed.getString("state"));
    assertEquals("running", listed.getString("runState"));
  }

  @Test
  @Order(2)
  void freezeIsLeasedAndThawedByTheGateway() throws Exception {
    long before = events.size();
    JsonObject frozen = post("fsfreeze-freeze?timeoutMs=60000", "{}");
    assertInstanceOf(Number.class, frozen.getValue("return"), frozen.encode());
    waitFor("frozen event", () -> typesSince(before).contains("frozen"), Duration.ofSeconds(5));
    // the thaw of the caller: a second one changes nothing
    assertInstanceOf(Number.class, post("fsfreeze-thaw", "{}").getValue("return"));
    waitFor("thawed event", () -> typesSince(before).contains("thawed"), Duration.ofSeconds(5));
    // a freeze nobody thaws: the gateway does, when its lease ends
    long leased = events.size();
    bus("fsfreeze-freeze", new JsonObject().put("autoThawMs", 500));
    waitFor("auto-thawed event", () -> typesSince(leased).contains("auto-thawed"),
        Duration.ofSeconds(10));
    assertEquals("thawed", post("fsfreeze-status", "{}").getString("return"));
  }

  @Test
  @Order(3)
  void fstrimAnswers() throws Exception {
    Response r = send("POST", "/v1/guests/" + NAME + "/commands/fstrim", "{}");
    // the initramfs guest has nothing to trim: the agent says so, or lists no paths
    assertTrue(r.status() == 200 || r.status() == 502 || r.status() == 501, r.toString());
    if (r.status() == 200) {
      assertTrue(r.json().getJsonObject("return").containsKey("paths"), r.body());
    } else {
      assertTrue(r.json().getJsonObject("error").containsKey("class"), r.body());
    }
  }

  @Test
  @Order(4)
  void runExecAndFilesWork() throws Exception {
    JsonObject run = post("run", "{\"path\": \"/bin/sh\", \"arg\": [\"-c\", \"echo out; echo err >&2; "
        + "exit 3\"]}").getJsonObject("return");
    assertEquals(3, run.getInteger("exitcode"));
    assertEquals("out\n", run.getString("stdout"));
    assertEquals("err\n", run.getString("stderr"));
    JsonObject exec = post("exec", "{\"path\": \"/bin/true\"}").getJsonObject("return");
    long pid = exec.getLong("pid");
    waitFor("exec-status exited", () -> {
      try {
        return post("exec-status", "{\"pid\": " + pid + "}").getJsonObject("return")
            .getBoolean("exited");
      } catch (Exception e) {
        return false;
      }
    }, Duration.ofSeconds(10));
    byte[] content = new byte[300_000];
    for (int i = 0; i < content.length; i++) {
      content[i] = (byte) (i * 31);
    }
    String b64 = Base64.getEncoder().encodeToString(content);
    assertEquals(content.length, post("file-put", new JsonObject().put("path", "/tmp/tier.bin")
        .put("content-b64", b64).encode()).getJsonObject("return").getInteger("size"));
    JsonObject got = post("file-get", "{\"path\": \"/tmp/tier.bin\"}").getJsonObject("return");
    assertEquals(b64, got.getString("content-b64"));
  }

  @Test
  @Order(5)
  void virshAndTheGatewayServeTheSameDomainSideBySide() throws Exception {
    for (int i = 0; i < 5; i++) {
      bothSidesServe();
    }
  }

  @Test
  @Order(6)
  void anAgentRestartIsNoticedAtOnceAndNeitherSideIsLockedOut() throws Exception {
    long before = events.size();
    post("run", "{\"path\": \"/bin/sh\", \"arg\": [\"-c\", "
        + "\"(sleep 0.5; kill -KILL $(pidof qemu-ga)) >/dev/null 2>&1 &\"]}");
    long killedAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
    waitFor("disconnected event", () -> typesSince(before).contains("disconnected"),
        Duration.ofSeconds(10));
    JsonObject disconnected = eventSince(before, "disconnected");
    long noticedMs = TimeUnit.NANOSECONDS.toMillis(disconnected.getLong("at") - killedAt);
    System.out.println("libvirt tier: agent restart noticed " + noticedMs
        + " ms after the kill was due");
    assertTrue(noticedMs < 1500, "noticed after " + noticedMs + " ms");
    // meanwhile a request is answered at once, not at its timeout
    long t0 = System.nanoTime();
    Response down = send("POST", "/v1/guests/" + NAME + "/commands/ping", "{}");
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    if (down.status() != 200) {
      assertEquals(503, down.status(), down.toString());
      assertTrue(ms < 100, "503 after " + ms + " ms");
    }
    awaitReady(Duration.ofSeconds(30));
    bothSidesServe();
  }

  @Test
  @Order(7)
  void aPausedDomainIsAnsweredAtOnce() throws Exception {
    virsh("suspend", NAME);
    try {
      waitFor("paused seen", () -> !"ready".equals(state()), Duration.ofSeconds(10));
      answered503AtOnce("paused");
    } finally {
      virsh("resume", NAME);
    }
    awaitReady(Duration.ofSeconds(30));
  }

  @Test
  @Order(8)
  void aRebootIsReachedAndBothSidesServeAfterIt() throws Exception {
    JsonObject reply = post("shutdown", "{\"mode\": \"reboot\"}");
    assertEquals(true, reply.getBoolean("sent"), reply.encode());
    assertEquals("rebooted", reply.getString("reached"), reply.encode());
    awaitReady(BOOT);
    bothSidesServe();
  }

  @Test
  @Order(9)
  void shutdownReachesShutoffAndTheGuestIsThenAnsweredAtOnce() throws Exception {
    JsonObject reply = post("shutdown", "{}");
    assertEquals(true, reply.getBoolean("sent"), reply.encode());
    assertTrue(List.of("shutdown", "shutoff").contains(reply.getString("reached")),
        reply.encode());
    waitFor("shut off", () -> virshQuiet("domstate", NAME).contains("shut off"),
        Duration.ofSeconds(15));
    waitFor("listed as stopped", () -> {
      try {
        return "shutoff".equals(getJson("/v1/guests/" + NAME).getJsonArray("guests")
            .getJsonObject(0).getString("runState"));
      } catch (Exception e) {
        return false;
      }
    }, Duration.ofSeconds(10));
    answered503AtOnce("shut off");
  }

  @Test
  @Order(10)
  void suspendAndWakeUp() throws Exception {
    virsh("start", NAME);
    awaitReady(BOOT);
    JsonObject suspended = post("suspend-ram", "{}");
    assertEquals("suspended", suspended.getString("reached"), suspended.encode());
    answered503AtOnce("wakeup");
    JsonObject woken = post("wakeup", "{}").getJsonObject("return");
    assertEquals("woken", woken.getString("state"), woken.encode());
    assertEquals("ready", woken.getString("agent"), woken.encode());
    bothSidesServe();
  }

  @Test
  @Order(11)
  void libvirtsChannelDirectoryIsRefusedWhileLibvirtdRuns() {
    JsonObject config = new JsonObject()
        .put("discovery", new JsonArray().add(new JsonObject()
            .put("directory", "/var/lib/libvirt/qemu/channel/target")))
        .put("http", new JsonObject().put("enabled", false));
    Throwable e = null;
    try {
      Gateway.start(vertx, GatewayConfig.parse(config),
          new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), new Health(false))
          .await(30, TimeUnit.SECONDS);
    } catch (Exception failure) {
      e = failure;
    }
    while (e != null && !(e instanceof io.qgagateway.config.ConfigException)
        && e.getCause() != null) {
      e = e.getCause();
    }
    assertInstanceOf(io.qgagateway.config.ConfigException.class, e);
    assertTrue(e.getMessage().contains("libvirt's agent channel directory, and libvirtd ("),
        e.getMessage());
    assertTrue(e.getMessage().contains("Remove this discovery entry"), e.getMessage());
  }

  @Test
  @Order(12)
  void anAgentChannelPluggedIntoTheRunningDomainIsServedWithoutARestart() throws Exception {
    // libvirt finds the device to unplug by its whole live definition (the socket path it made)
    java.util.regex.Matcher live = java.util.regex.Pattern.compile(
        "<channel type='unix'>.*?</channel>", java.util.regex.Pattern.DOTALL)
        .matcher(virsh("dumpxml", NAME));
    assertTrue(live.find(), "the domain's agent channel");
    Path plugged = work.resolve("agent-channel-live.xml");
    Files.writeString(plugged, live.group());
    virsh("detach-device", NAME, plugged.toString(), "--live");
    // no channel, no guest: the gateway lets it go
    waitFor("unplugged channel seen", () -> "absent".equals(state()), Duration.ofSeconds(10));
    // what an operator plugs in: libvirt makes the socket itself
    Path channel = work.resolve("agent-channel.xml");
    Files.writeString(channel, "<channel type='unix'><target type='virtio' "
        + "name='org.qemu.guest_agent.0'/></channel>");
    long t0 = System.nanoTime();
    virsh("attach-device", NAME, channel.toString(), "--live");
    servedAgain(t0, Duration.ofSeconds(30), "hot-plugged agent channel served %d ms after "
        + "attach-device");
  }

  @Test
  @Order(13)
  void aLibvirtdRestartIsAnswered503ThenTheGuestIsServedAgain() throws Exception {
    ourDaemon("not restarting someone else's daemon");
    daemons("stop-libvirtd");
    waitFor("the lost connection seen", () -> "connecting".equals(state()),
        Duration.ofSeconds(15));
    answered503AtOnce("connection to libvirt");
    long t0 = System.nanoTime();
    daemons("start");
    servedAgain(t0, Duration.ofSeconds(60), "served again %d ms after libvirtd started");
    // what the gateway learns from events still comes: they were registered again
    virsh("suspend", NAME);
    try {
      waitFor("pause seen after the reconnect", () -> !"ready".equals(state()),
          Duration.ofSeconds(10));
    } finally {
      virsh("resume", NAME);
    }
    awaitReady(Duration.ofSeconds(30));
  }

  @Test
  @Order(14)
  void aSocketUriServesAndTheReadOnlySocketCannotSendAgentCommands() throws Exception {
    String ping = "{\"execute\":\"guest-ping\"}";
    JnaHypervisor rw = new JnaHypervisor("qemu+unix:///system?socket=/run/libvirt/libvirt-sock");
    try {
      rw.open();
      assertEquals("{\"return\":{}}", rw.agentCommand(uuidOn(rw), ping, 5));
    } finally {
      rw.close();
    }
    JnaHypervisor ro = new JnaHypervisor(
        "qemu+unix:///system?socket=/run/libvirt/libvirt-sock-ro");
    try {
      ro.open();
      String uuid = uuidOn(ro);
      HypervisorException e = assertThrows(HypervisorException.class,
          () -> ro.agentCommand(uuid, ping, 5));
      System.out.println("libvirt tier: agent command on the read-only socket: " + e.code()
          + " " + e.getMessage());
      assertTrue(e.getMessage().contains("read only"), e.getMessage());
    } finally {
      ro.close();
    }
  }

  @Test
  @Order(15)
  void aHungLibvirtdIsNoticedByKeepaliveItsCallFailsAndTheGuestIsServedOnceItRuns()
      throws Exception {
    ourDaemon("not stopping someone else's daemon");
    daemons("hang-libvirtd");
    try {
      // a call under way on a connection outside the event loop: keepalive on the event
      // connection (5 s, 3 missed) gives up on libvirtd, and the call is failed then, not at
      // its deadline
      long t0 = System.nanoTime();
      Response r = send("POST", "/v1/guests/" + NAME + "/commands/ping?timeoutMs=60000", "{}");
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      System.out.println("libvirt tier: call under way when libvirtd hung: " + r.status()
          + " after " + ms + " ms: " + r.body());
      assertEquals(503, r.status(), r.toString());
      assertTrue(r.body().contains("closed under the call: libvirtd stopped answering keepalives"),
          r.body());
      assertTrue(ms < 40_000, "answered after " + ms + " ms");
      answered503AtOnce("keepalive");
    } finally {
      daemons("resume-libvirtd");
    }
    servedAgain(System.nanoTime(), Duration.ofSeconds(60),
        "served again %d ms after libvirtd resumed");
  }

  @Test
  @Order(16)
  void remoteUrisServeOverTcpAndSshAndAGatewayOnTlsGetsItsCallsAndEvents() throws Exception {
    Path pki = ourDaemon("no TCP or TLS listener of ours").resolve("pki").resolve("client");
    JnaHypervisor tcp = new JnaHypervisor("qemu+tcp://127.0.0.1/system");
    try {
      tcp.open();
      assertEquals("{\"return\":{}}", tcp.agentCommand(uuidOn(tcp), "{\"execute\":\"guest-ping\"}",
          5));
    } finally {
      tcp.close();
    }
    // ssh: libvirt's client runs ssh, which runs virt-ssh-helper on the far side (this host)
    Path key = pki.getParent().getParent().resolve("ssh").resolve("id_ed25519");
    JnaHypervisor ssh = new JnaHypervisor("qemu+ssh://root@127.0.0.1:2222/system?keyfile=" + key
        + "&no_verify=1&no_tty=1");
    List<String> lifecycle = new CopyOnWriteArrayList<>();
    ssh.listen(new Hypervisor.Listener() {
      @Override
      public void lifecycle(String uuid, String name, int event, int detail) {
        if (NAME.equals(name)) {
          lifecycle.add(name + " " + event);
        }
      }

      @Override
      public void agent(String uuid, String name, boolean connected, int reason) {
      }

      @Override
      public void reboot(String uuid, String name) {
      }

      @Override
      public void devices(String uuid, String name) {
      }

      @Override
      public void closed(String reason) {
      }
    });
    try {
      ssh.open();
      assertEquals("{\"return\":{}}", ssh.agentCommand(uuidOn(ssh), "{\"execute\":\"guest-ping\"}",
          5));
      virsh("suspend", NAME);
      try {
        waitFor("the pause's event over qemu+ssh", () -> !lifecycle.isEmpty(),
            Duration.ofSeconds(10));
      } finally {
        virsh("resume", NAME);
      }
    } finally {
      ssh.close();
    }
    // a second gateway, on TLS with the tier's client certificate, beside the first
    Vertx remote = TestVertx.create();
    try {
      JsonObject config = new JsonObject()
          .put("node", new JsonObject().put("name", "libvirt-tier-tls"))
          .put("http", new JsonObject().put("enabled", false))
          .put("libvirt", new JsonObject().put("enabled", true)
              .put("uri", "qemu+tls://127.0.0.1/system?pkipath=" + pki));
      Gateway tls = Gateway.start(remote, GatewayConfig.parse(config),
          new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), new Health(false))
          .await(60, TimeUnit.SECONDS);
      try {
        waitFor("served over qemu+tls", () -> pingStatus(remote) == 200, Duration.ofSeconds(30));
        // the pause reaches it as an event over TLS: answered 503 from libvirt's view
        virsh("suspend", NAME);
        try {
          waitFor("pause seen over qemu+tls", () -> pingStatus(remote) == 503,
              Duration.ofSeconds(10));
        } finally {
          virsh("resume", NAME);
        }
        waitFor("served again over qemu+tls", () -> pingStatus(remote) == 200,
            Duration.ofSeconds(30));
      } finally {
        tls.stop().await(30, TimeUnit.SECONDS);
      }
    } finally {
      remote.close().await(30, TimeUnit.SECONDS);
    }
    awaitReady(Duration.ofSeconds(30));
    bothSidesServe();
  }

  @Test
  @Order(17)
  void theJarWithNoArgumentsServesThisHostsDomainsBesideVirsh() throws Exception {
    // the README's run command, as a new user on a libvirt host runs it (port 0 only, so it
    // cannot collide with anything on the machine)
    Path log = work.resolve("jar.log");
    ProcessBuilder builder = new ProcessBuilder(GatewayProcess.java(), "-jar",
        GatewayProcess.jar().toString())
        .directory(Path.of(System.getProperty("basedir", ".")).toFile())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put("QGA_HTTP_PORT", "0");
    Process jar = builder.start();
    try {
      int jarPort = GatewayProcess.awaitHttpPort(jar, log);
      String started = GatewayProcess.awaitLine(jar, "gateway", log,
          java.util.regex.Pattern.compile("backends: [^\\n]*"), Duration.ofSeconds(10),
          () -> GatewayProcess.tail(log)).group();
      System.out.println("libvirt tier: java -jar with no arguments: " + started);
      assertTrue(started.contains("libvirt qemu:///system"), started);
      HttpRequest ping = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + jarPort
          + "/v1/guests/" + NAME + "/commands/ping")).POST(HttpRequest.BodyPublishers.noBody())
          .timeout(Duration.ofSeconds(10)).build();
      waitFor(NAME + " served by the jar", () -> {
        try {
          return http.send(ping, HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
        } catch (Exception e) {
          return false;
        }
      }, Duration.ofSeconds(30));
      bothSidesServe();
    } finally {
      jar.destroy();
      assertTrue(jar.waitFor(30, TimeUnit.SECONDS), "stops on SIGTERM" + GatewayProcess.tail(log));
    }
    bothSidesServe();
  }

  // ---- helpers -------------------------------------------------------------------------------

  /**
   * The state directory of the libvirtd the tier started; a test that stops, hangs or needs the
   * listeners of that daemon is skipped beside someone else's, except under CI, where the tier
   * always starts its own and a skip would hide a tier that did not run.
   */
  static Path ourDaemon(String otherwise) {
    String state = System.getenv("QGA_LIBVIRT_STATE");
    boolean ours = state != null && Files.exists(Path.of(state, "libvirtd.pid"));
    if (!ours && "true".equals(System.getenv("CI"))) {
      fail("libvirtd was not started by .ci/libvirt/tier under CI: " + otherwise);
    }
    Assumptions.assumeTrue(ours, "libvirtd was not started by .ci/libvirt/tier: " + otherwise);
    return Path.of(state);
  }

  /** A ping over {@code vertx}'s bus: 200, or the failure's code. */
  static int pingStatus(Vertx vertx) {
    try {
      vertx.eventBus().request(Addresses.publicAddress("ping"),
          new JsonObject().put("guest", NAME).put("timeoutMs", 5_000)).await(10, TimeUnit.SECONDS);
      return 200;
    } catch (ReplyException e) {
      return e.failureCode();
    } catch (Exception e) {
      return -1;
    }
  }

  /** The tier domain's UUID, as listed on {@code hypervisor}'s connection. */
  static String uuidOn(JnaHypervisor hypervisor) throws HypervisorException {
    return hypervisor.activeDomains().stream().filter(d -> d.name().equals(NAME)
        && d.agentChannel()).findFirst().orElseThrow().uuid();
  }

  /** A ping through HTTP is refused with 503 naming {@code why}, at once (not at its timeout). */
  static void answered503AtOnce(String why) throws Exception {
    long t0 = System.nanoTime();
    Response r = send("POST", "/v1/guests/" + NAME + "/commands/ping?timeoutMs=10000", "{}");
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertEquals(503, r.status(), r.toString());
    assertTrue(r.body().contains(why), r.body());
    assertTrue(ms < 100, "answered in " + ms + " ms");
  }

  /**
   * Waits until the guest is ready again, says how long that took since {@code t0} ({@code %d}
   * in {@code what}), and checks that virsh and the gateway both serve it.
   */
  static void servedAgain(long t0, Duration max, String what) throws Exception {
    awaitReady(max);
    System.out.println("libvirt tier: " + what.formatted(
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)));
    bothSidesServe();
  }

  /** virsh's agent command and the gateway's both answer (libvirt is not locked out). */
  static void bothSidesServe() throws Exception {
    assertEquals("{\"return\":{}}", virsh("qemu-agent-command", NAME,
        "{\"execute\":\"guest-ping\"}").strip());
    assertEquals(new JsonObject(), post("ping", "{}").getJsonObject("return"));
  }

  /** .ci/libvirt/daemons, for the daemons the tier started. */
  static void daemons(String command) throws IOException, InterruptedException {
    Path script = Path.of(System.getProperty("basedir", ".")).resolve(".ci/libvirt/daemons");
    Output out = run(List.of(script.toString(), command));
    if (out.exit() != 0) {
      fail("daemons " + command + " failed: " + out.text());
    }
  }

  record Response(int status, String body) {
    JsonObject json() {
      return new JsonObject(body);
    }
  }

  static Response send(String method, String path, String body) throws IOException,
      InterruptedException {
    HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(60))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body))
        .header("Content-Type", "application/json").build();
    HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
    return new Response(response.statusCode(), response.body());
  }

  static JsonObject post(String command, String arguments) throws Exception {
    Response r = send("POST", "/v1/guests/" + NAME + "/commands/" + command, arguments);
    if (r.status() != 200) {
      fail(command + ": " + r);
    }
    return r.json();
  }

  static JsonObject getJson(String path) throws Exception {
    Response r = send("GET", path, null);
    assertEquals(200, r.status(), r.toString());
    return r.json();
  }

  static JsonObject bus(String suffix, JsonObject body) throws Exception {
    try {
      return vertx.eventBus().<JsonObject>request(Addresses.publicAddress(suffix),
              body.copy().put("guest", NAME), new DeliveryOptions().setSendTimeout(60_000))
          .map(Message::body).await(60, TimeUnit.SECONDS);
    } catch (ReplyException e) {
      return fail(suffix + " over the bus: " + e.failureCode() + " " + e.getMessage());
    }
  }

  static String state() {
    try {
      Response r = send("GET", "/v1/guests/" + NAME, null);
      return r.status() == 200
          ? r.json().getJsonArray("guests").getJsonObject(0).getString("state") : "absent";
    } catch (Exception e) {
      return "unknown";
    }
  }

  static void awaitReady(Duration max) {
    waitFor(NAME + " ready", () -> "ready".equals(state()), max);
  }

  static List<String> typesSince(long from) {
    List<String> out = new ArrayList<>();
    for (int i = (int) from; i < events.size(); i++) {
      out.add(events.get(i).getString("type"));
    }
    return out;
  }

  static JsonObject eventSince(long from, String type) {
    for (int i = (int) from; i < events.size(); i++) {
      if (type.equals(events.get(i).getString("type"))) {
        return events.get(i);
      }
    }
    return fail("no " + type + " event");
  }

  static void waitFor(String what, BooleanSupplier condition, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out after " + max + " waiting for: " + what + console());
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        fail("interrupted");
      }
    }
  }

  static String console() {
    try {
      return "\nguest console:\n" + Files.readString(work.resolve("console.log"));
    } catch (IOException e) {
      return "";
    }
  }

  /** A command's output (stderr included) and exit code; -1 when it did not end in a minute. */
  record Output(int exit, String text) {
  }

  static Output run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Output(p.waitFor(60, TimeUnit.SECONDS) ? p.exitValue() : -1, out);
  }

  static Output virshRun(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("virsh", "-q", "-c", "qemu:///system"));
    command.addAll(List.of(args));
    return run(command);
  }

  static String virsh(String... args) throws IOException, InterruptedException {
    Output out = virshRun(args);
    if (out.exit() != 0) {
      fail("virsh " + String.join(" ", args) + " failed: " + out.text());
    }
    return out.text();
  }

  static String virshQuiet(String... args) {
    try {
      return virshRun(args).text();
    } catch (IOException | InterruptedException e) {
      return "";
    }
  }
}
