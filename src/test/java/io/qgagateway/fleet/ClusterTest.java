package io.qgagateway.fleet;

import com.hazelcast.config.Config;
import com.hazelcast.multimap.MultiMap;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.api.Addresses;
import io.qgagateway.client.GatewayClient;
import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.libvirt.Hypervisor.DomainState;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.FakeHypervisor;
import io.qgagateway.testing.FakeHypervisor.Domain;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.spi.cluster.NodeInfo;
import io.vertx.spi.cluster.hazelcast.impl.HazelcastRegistrationInfo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Two clustered members in one JVM, each a whole {@link Gateway} with its own simulated guests,
 * joined over loopback TCP-IP (never multicast). Each test run gets its own Hazelcast cluster
 * name and ports, so it never joins another run's members on the same machine.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClusterTest {

  private static final long WAIT_MS = 10_000;

  @TempDir
  Path dir;

  private final String clusterName = "qga-test-" + UUID.randomUUID();
  private final List<Member> members = new ArrayList<>();
  private final java.util.Map<String, Health> healths = new java.util.HashMap<>();
  private final java.util.Map<String, SimpleMeterRegistry> registries = new java.util.HashMap<>();
  private int portA;
  private int portB;
  private long retentionMs = GatewayConfig.Cluster.DEFAULT_UNREACHABLE_RETENTION_MS;
  private int minPeers;
  private boolean slowFstrim;
  private int demoSimulated;
  // the libvirt of the next member started, when it has one
  private FakeHypervisor libvirt;
  /** Merged into every member's configuration (e.g. http and auth). */
  private JsonObject extraConfig = new JsonObject();

  /** One gateway member: its clustered Vert.x, the gateway, and the agents of its guests. */
  private record Member(String name, Vertx vertx, Gateway gateway, List<SimulatedAgent> agents) {

    SimulatedAgent agent(String guestHost) {
      return agents.stream().filter(a -> a.guest().hostName().equals(guestHost)).findFirst()
          .orElseThrow();
    }

    String id() {
      return gateway.node().id();
    }
  }

  @BeforeEach
  void ports() throws IOException {
    portA = TestPorts.free();
    do {
      portB = TestPorts.free();
    } while (Math.abs(portB - portA) < 2);
  }

  @AfterEach
  void stopAll() {
    List<Member> reversed = new ArrayList<>(members);
    Collections.reverse(reversed);
    for (Member m : reversed) {
      try {
        await(m.gateway().stop().transform(ar -> m.vertx().close()));
      } catch (Exception e) {
        // already closed by the test, or closing anyway
      }
    }
  }

  @Test
  void commandsAndGuestListsReachTheOtherMember() throws Exception {
    int eventBusPort = TestPorts.free();
    Member a = start("A", portA, eventBusPort, "a-1");
    Member b = start("B", portB, "b-1");
    assertNotEquals(a.id(), b.id(), "each member has its own cluster node id");
    NodeInfo infoA = ((VertxInternal) a.vertx()).clusterManager().getNodeInfo();
    assertEquals("127.0.0.1", infoA.host());
    assertEquals(eventBusPort, infoA.port(), "cluster.eventBusPort is where A's bus listens");
    int randomPort = ((VertxInternal) b.vertx()).clusterManager().getNodeInfo().port();
    assertTrue(randomPort > 0 && randomPort != eventBusPort, "B's bus on a free port");
    awaitFleet("a-1", "b-1");

    JsonObject pong = request(a, "agent.ping", new JsonObject().put("guest", "b-1")).body();
    assertEquals(new JsonObject().put("return", new JsonObject()), pong);
    assertTrue(pinged(agentFor(b, "b-1")), "the ping for b-1 reached B's agent");
    assertEquals(new JsonObject().put("return", new JsonObject()),
        request(b, "agent.ping", new JsonObject().put("guest", "a-1")).body());
    assertTrue(pinged(agentFor(a, "a-1")), "the ping for a-1 reached A's agent");

    // a command with a reply of substance comes back through the other member unchanged
    JsonObject hostName = request(a, "agent.get-host-name", new JsonObject().put("guest", "b-1"))
        .body();
    assertEquals("b-1@B", hostName.getJsonObject("return").getString("host-name"));

    for (Member asked : List.of(a, b)) {
      JsonArray guests = guests(asked, new JsonObject());
      assertEquals(List.of("a-1", "b-1"), names(guests), "listed on " + asked.name());
      JsonObject a1 = entry(guests, "a-1");
      JsonObject b1 = entry(guests, "b-1");
      assertEquals(a.id(), a1.getString("node"));
      assertEquals("A", a1.getString("nodeName"));
      assertEquals(b.id(), b1.getString("node"));
      assertEquals("B", b1.getString("nodeName"));
      assertEquals("ready", a1.getString("state"));
      assertEquals("ready", b1.getString("state"));
      assertEquals("unix", b1.getString("transport"));
      assertEquals(SimulatedAgent.VERSION, b1.getJsonObject("agent").getString("version"));
    }
    JsonArray one = guests(a, new JsonObject().put("guest", "b-1"));
    assertEquals(1, one.size());
    assertEquals(b.id(), one.getJsonObject(0).getString("node"));

    ReplyException unknown = failure(a, "agent.ping", new JsonObject().put("guest", "nobody"));
    assertEquals(404, unknown.failureCode());
    assertEquals(404, failure(a, "agent.guests", new JsonObject().put("guest", "nobody"))
        .failureCode());
  }

  @Test
  void aMemberThatLeavesLeavesItsGuestsUnreachableForTheRetentionThenUnknown() throws Exception {
    retentionMs = 4_000;
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");

    long stopped = System.currentTimeMillis();
    await(b.gateway().stop());
    await(b.vertx().close());
    members.remove(b);

    // never a wrong 404 while B is merely gone: 503 (its link closing, then "held by B,
    // unreachable") until the retention has passed, then 404
    ReplyException unreachable = null;
    int code;
    do {
      code = pingCode(a, "b-1");
      assertTrue(code == 503 || code == 200 || code == 404, "ping b-1 during the leave: " + code);
      if (code == 404) {
        break;
      }
      ReplyException e = pingFailure(a, "b-1");
      if (e != null && e.getMessage().contains("held by B, unreachable")) {
        unreachable = e;
      }
    } while (System.currentTimeMillis() - stopped < WAIT_MS + retentionMs);
    assertTrue(unreachable != null, "b-1 answered 503 held by B, unreachable");
    assertEquals(404, code, "b-1 is unknown once the retention has passed");
    long gone = System.currentTimeMillis() - stopped;
    assertTrue(gone >= retentionMs, "404 only after the retention: " + gone + " ms");
    assertEquals(List.of("a-1"), names(guests(a, new JsonObject())));
    assertEquals(200, pingCode(a, "a-1"), "A's own guest still answers");
  }

  @Test
  void aLibvirtDomainThatStoppedIsAnswered503ByEveryMemberUntilItIsUndefined() throws Exception {
    Member a = start("A", portA, "a-1");
    libvirt = new FakeHypervisor();
    FakeHypervisor libvirtOfB = libvirt;
    Domain vm = libvirtOfB.add("vm-lv", DomainState.RUNNING, FakeHypervisor.pong());
    start("B", portB, "b-1");
    awaitFleet("a-1", "b-1", "vm-lv");
    assertEquals(200, pingCode(a, "vm-lv"));

    libvirtOfB.stop(vm, 0);
    eventually("A answers vm-lv 503 with the reason and the holder", () -> {
      try {
        ReplyException e = pingFailure(a, "vm-lv");
        return e != null && e.failureCode() == 503 && e.getMessage().contains("held by B")
            && e.getMessage().contains("vm-lv is shut off (shutdown)");
      } catch (Exception e) {
        return false;
      }
    }, () -> String.valueOf(pingFailureQuietly(a, "vm-lv")));
    // still defined: still 503 past keepStoppedMs; undefined, 404 after it
    Thread.sleep(1_000);
    assertEquals(503, pingCode(a, "vm-lv"));
    libvirtOfB.undefine(vm);
    eventually("A answers vm-lv 404 once it is undefined", () -> pingCodeQuietly(a, "vm-lv")
        == 404, () -> String.valueOf(pingFailureQuietly(a, "vm-lv")));
  }

  @Test
  void anUnreachableGuestIsListedAsSuch() throws Exception {
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    await(b.gateway().stop());
    await(b.vertx().close());
    members.remove(b);
    eventually("b-1 unreachable on A", () -> a.gateway().fleet()
        .route("b-1") instanceof FleetView.Unreachable, () -> String.valueOf(
        a.gateway().fleet().route("b-1")));
    ReplyException e = failure(a, "agent.ping", new JsonObject().put("guest", "b-1"));
    assertEquals(503, e.failureCode());
    assertTrue(e.getMessage().contains("guest b-1 is held by B, unreachable"), e.getMessage());
    JsonArray listed = guests(a, new JsonObject());
    assertEquals(List.of("a-1", "b-1"), names(listed));
    JsonObject b1 = entry(listed, "b-1");
    assertEquals(false, b1.getBoolean("reachable"), b1.encode());
    assertEquals(false, b1.getBoolean("described"), b1.encode());
    assertEquals("B", b1.getString("nodeName"));
    assertNotNull(b1.getString("unreachableSince"), b1.encode());
    assertEquals(true, entry(listed, "a-1").getBoolean("reachable"));
    assertEquals(1, guests(a, new JsonObject().put("guest", "b-1")).size());
  }

  @Test
  void aHungMembersAgentAddressesLeaveTheClusterUntilItRunsAgain() throws Exception {
    Member[] ab = twoMembersWithBRegistered();
    Member a = ab[0];
    Member b = ab[1];
    CountDownLatch resume = new CountDownLatch(1);
    long paused = System.currentTimeMillis();
    hang(b, resume);
    try {
      eventually("A removed B's agent.* registrations",
          () -> !registeredNodes(a, "agent.ping").contains(b.id())
              && !registeredNodes(a, "agent.get-host-name").contains(b.id()),
          () -> registeredNodes(a, "agent.ping").toString());
      long removed = System.currentTimeMillis() - paused;
      long silentAfterMs = GatewayConfig.Cluster.DEFAULT_SILENT_AFTER_MS;
      System.out.println("ClusterTest: B's agent.* registrations removed " + removed
          + " ms after it hung");
      assertTrue(removed >= silentAfterMs && removed < silentAfterMs + 2_000,
          "removed " + removed + " ms after the hang");
      assertTrue(registeredNodes(a, "agent.ping").contains(a.id()), "A's own stay");
      // the callers' event buses hear of it (entry events) and stop handing agent.* to B
      Thread.sleep(500);
      for (int i = 0; i < 10; i++) {
        long sent = System.currentTimeMillis();
        request(a, "agent.ping", new JsonObject().put("guest", "a-1").put("timeoutMs", 2000));
        long took = System.currentTimeMillis() - sent;
        assertTrue(took < 1_000, "ping " + i + " of a healthy guest took " + took + " ms");
      }
    } finally {
      resume.countDown();
    }
    eventually("B put its agent.* registrations back once it ran again",
        () -> registeredNodes(a, "agent.ping").contains(b.id())
            && registeredNodes(a, "agent.get-host-name").contains(b.id()),
        () -> registeredNodes(a, "agent.ping").toString());
    eventually("B's guest answers again", () -> {
      try {
        return pingFailure(a, "b-1") == null;
      } catch (Exception e) {
        return false;
      }
    }, () -> "not yet");
  }

  @Test
  void registrationsRemovedWhileTheMemberRanAreRegisteredAgainAtItsNextRound() throws Exception {
    Member[] ab = twoMembersWithBRegistered();
    Member a = ab[0];
    Member b = ab[1];
    // what a member that took B for silent does while B itself never paused (a one-way cut):
    // B finds its first registration gone at a plain round and puts them all back
    int removed = ((GatewayClusterManager) ((VertxInternal) a.vertx()).clusterManager())
        .forgetPublicAddressesOf(b.id());
    assertTrue(removed > 0, "removed " + removed);
    assertFalse(registeredNodes(a, "agent.ping").contains(b.id()));
    long t0 = System.currentTimeMillis();
    eventually("B put its agent.* registrations back",
        () -> registeredNodes(a, "agent.ping").contains(b.id())
            && registeredNodes(a, "agent.get-host-name").contains(b.id()),
        () -> registeredNodes(a, "agent.ping").toString());
    long back = System.currentTimeMillis() - t0;
    assertTrue(back < GatewayConfig.Cluster.DEFAULT_SILENT_AFTER_MS + 2_000,
        "back after " + back + " ms");
  }

  @Test
  void theJvmClientEntersLiveMembersAndFailsAHungMembersRequestsAtOnce() throws Exception {
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    GatewayClient client = GatewayClient.start(a.vertx());
    try {
      awaitClientPing(client, "b-1", "the client found the members");
      assertEquals("b-1@B", await(client.request("agent.get-host-name",
          new JsonObject().put("guest", "b-1"))).getJsonObject("return").getString("host-name"));
      assertEquals(404, clientFailure(client, "agent.ping", new JsonObject().put("guest", "x"))
          .failureCode());
      assertEquals(400, clientFailure(client, "agent.nope", new JsonObject().put("guest", "a-1"))
          .failureCode());
      assertEquals(403, clientFailure(client, "qga.local.agent.ping",
          new JsonObject().put("guest", "a-1")).failureCode());

      CountDownLatch resume = new CountDownLatch(1);
      hang(b, resume);
      long hung = System.currentTimeMillis();
      try {
        // sent as B hangs: those that entered B fail once the probe finds it silent
        List<Future<JsonObject>> pings = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
          pings.add(client.request("agent.ping", new JsonObject().put("guest", "a-1")));
        }
        int failed = 0;
        for (Future<JsonObject> ping : pings) {
          try {
            await(ping);
          } catch (ExecutionException e) {
            ReplyException re = (ReplyException) e.getCause();
            assertEquals(503, re.failureCode(), re.getMessage());
            assertTrue(re.getMessage().contains("gateway member B (" + b.id() + ")"),
                re.getMessage());
            failed++;
          }
          long took = System.currentTimeMillis() - hung;
          assertTrue(took < GatewayConfig.Cluster.DEFAULT_SILENT_AFTER_MS + 2_000,
              "answered " + took + " ms after the hang");
        }
        System.out.println("ClusterTest: JVM client, " + failed + " of 6 requests entered the"
            + " hung member and failed within " + (System.currentTimeMillis() - hung) + " ms");
        // B is silent now: every request enters A and is answered at once
        for (int i = 0; i < 10; i++) {
          long sent = System.currentTimeMillis();
          await(client.request("agent.ping", new JsonObject().put("guest", "a-1")));
          long took = System.currentTimeMillis() - sent;
          assertTrue(took < 1_000, "ping " + i + " of a healthy guest took " + took + " ms");
        }
        assertEquals(503, clientFailure(client, "agent.ping", new JsonObject().put("guest", "b-1"))
            .failureCode(), "B's guest is unreachable while B hangs");
      } finally {
        resume.countDown();
      }
      awaitClientPing(client, "b-1", "B's guest answers the client again");
    } finally {
      await(client.close());
    }
  }

  @Test
  void aRequestInFlightWhenItsHolderCrashesFailsAtOnceNamingTheHolder() throws Exception {
    Member a = start("A", portA, "a-1");
    slowFstrim = true;
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    long sent = System.currentTimeMillis();
    // to A's own dispatcher: on the clustered agent.fstrim, Vert.x might hand it to B's
    Future<Message<JsonObject>> fstrim = a.vertx().eventBus().request(
        Addresses.local("agent.fstrim"),
        new JsonObject().put("guest", "b-1").put("timeoutMs", 30_000),
        new DeliveryOptions().setSendTimeout(60_000));
    eventually("the fstrim reached B's agent", () -> agentFor(b, "b-1").received().stream()
        .anyMatch(r -> "guest-fstrim".equals(r.getString("execute"))), () -> "not yet");
    // a crash: Hazelcast stops without leaving; its connections close
    long crashed = System.currentTimeMillis();
    ((GatewayClusterManager) ((VertxInternal) b.vertx()).clusterManager())
        .getHazelcastInstance().getLifecycleService().terminate();
    ReplyException e;
    try {
      await(fstrim);
      e = fail("the fstrim succeeded");
    } catch (ExecutionException x) {
      e = (ReplyException) x.getCause();
    }
    long took = System.currentTimeMillis() - crashed;
    System.out.println("ClusterTest: in-flight fstrim failed " + took + " ms after the crash ("
        + (System.currentTimeMillis() - sent) + " ms after it was sent): " + e.getMessage());
    assertEquals(503, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().contains("held by B, unreachable"), e.getMessage());
    assertTrue(took < 5_000, "failed " + took + " ms after the crash, not at its deadline");
    // through A's own dispatcher again: B's Vert.x still runs and could take agent.ping
    assertEquals(503, failure(a, Addresses.local("agent.ping"),
        new JsonObject().put("guest", "b-1")).failureCode());
    // and A's own guest answers, through A's dispatcher for the same reason
    request(a, Addresses.local("agent.ping"), new JsonObject().put("guest", "a-1"));
    b.vertx().close();
    members.remove(b);
  }

  @Test
  void aPublishRunsNothingOnAnyMemberARequestRunsOnce() throws Exception {
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    a.vertx().eventBus().publish("agent.fstrim", new JsonObject().put("guest", "b-1"));
    b.vertx().eventBus().publish("agent.fstrim", new JsonObject().put("guest", "a-1"));
    for (Member m : List.of(a, b)) {
      eventually(m.name() + " counted the publishes", () -> refused(m) >= 2,
          () -> String.valueOf(refused(m)));
    }
    Thread.sleep(500);
    for (Member m : List.of(a, b)) {
      assertEquals(2, refused(m), m.name() + " counts each publish once");
    }
    assertEquals(0, fstrims(agentFor(b, "b-1")));
    assertEquals(0, fstrims(agentFor(a, "a-1")));
    request(a, "agent.fstrim", new JsonObject().put("guest", "b-1"));
    request(b, "agent.fstrim", new JsonObject().put("guest", "b-1"));
    assertEquals(2, fstrims(agentFor(b, "b-1")), "one execution per request");
  }

  @Test
  void commandOutcomesAreRecordedByTheMemberHoldingTheGuest() throws Exception {
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    for (int i = 0; i < 3; i++) {
      // through A's bus: Vert.x hands each to A's or B's dispatcher; either way B holds b-1
      request(a, "agent.ping", new JsonObject().put("guest", "b-1"));
    }
    assertEquals(3, pingsRecorded(b, "ok"), "the holder records each request");
    assertEquals(0, pingsRecorded(a, "ok"), "the member it entered does not");
    ReplyException unknown = failure(a, "agent.ping", new JsonObject().put("guest", "nobody"));
    assertEquals(404, unknown.failureCode());
    assertEquals(1, pingsRecorded(a, "unknown_guest") + pingsRecorded(b, "unknown_guest"),
        "a request no holder answered is recorded once, where it entered");
  }

  private long pingsRecorded(Member m, String outcome) {
    var timer = registries.get(m.name()).find("qga.command.duration")
        .tags("command", "guest-ping", "outcome", outcome).timer();
    return timer == null ? 0 : timer.count();
  }

  @Test
  void theDemoGuestsOfTwoMembersCarryTheirNodeNames() throws Exception {
    demoSimulated = 2;
    Member a = start("A", portA);
    Member b = start("B", portB);
    awaitFleet("A-sim-1", "A-sim-2", "B-sim-1", "B-sim-2");
    assertEquals(0, a.gateway().fleet().conflicts());
    assertEquals(0, b.gateway().fleet().conflicts());
    // B's simulated agent answers, through A
    assertEquals("B-sim-2", request(a, "agent.get-host-name",
        new JsonObject().put("guest", "B-sim-2")).body().getJsonObject("return")
        .getString("host-name"));
  }

  @Test
  void readinessWaitsForTheMinimumOfPeers() throws Exception {
    minPeers = 1;
    Member a = start("A", portA, "a-1");
    Health alone = healths.get(a.name());
    assertFalse(alone.ready(), "no peer yet: " + alone.readiness().encode());
    assertEquals("DOWN", alone.readiness().getJsonObject("checks").getString("cluster"));
    Member b = start("B", portB, "b-1");
    eventually("A ready once B joined", alone::ready, () -> alone.readiness().encode());
    eventually("B ready", () -> healths.get(b.name()).ready(),
        () -> healths.get(b.name()).readiness().encode());
    assertEquals(1, alone.readiness().getJsonObject("checks").getInteger("peers"));
    await(b.gateway().stop());
    await(b.vertx().close());
    members.remove(b);
    eventually("A not ready once B left", () -> !alone.ready(), () -> alone.readiness().encode());
  }

  @Test
  void aGuestHeldByBothMembersIsListedTwiceAndAnsweredOnce() throws Exception {
    List<String> warnings = Collections.synchronizedList(new ArrayList<>());
    Logger fleetLog = Logger.getLogger(FleetView.class.getName());
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord r) {
        if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
          warnings.add(r.getMessage());
        }
      }

      @Override
      public void flush() {
      }

      @Override
      public void close() {
      }
    };
    fleetLog.addHandler(capture);
    try {
      Member a = start("A", portA, "dup", "a-1");
      Member b = start("B", portB, "dup", "b-1");
      awaitFleet("a-1", "b-1", "dup", "dup");

      JsonArray dups = guests(a, new JsonObject().put("guest", "dup"));
      assertEquals(2, dups.size(), dups.encode());
      List<String> nodes = dups.stream().map(o -> ((JsonObject) o).getString("node")).sorted()
          .collect(Collectors.toList());
      List<String> expected = new ArrayList<>(List.of(a.id(), b.id()));
      Collections.sort(expected);
      assertEquals(expected, nodes, "both holders are listed");
      dups.forEach(o -> assertEquals("ready", ((JsonObject) o).getString("state")));

      // whichever member serves the request and whichever holder it picks: one reply, and
      // exactly one of the two agents sees each request
      SimulatedAgent dupA = agentFor(a, "dup");
      SimulatedAgent dupB = agentFor(b, "dup");
      int before = pings(dupA) + pings(dupB);
      for (int i = 0; i < 3; i++) {
        for (Member asked : List.of(a, b)) {
          assertEquals(200, pingCode(asked, "dup"));
        }
      }
      assertEquals(before + 6, pings(dupA) + pings(dupB), "one agent call per request");
      // every member routes the name to the same holder: the first by node name, A, also for
      // requests that B (which holds a dup itself) receives
      assertEquals(before + 6, pings(dupA), "all six went to A's dup");
      for (Member m : List.of(a, b)) {
        List<FleetView.Node> holders = m.gateway().fleet().holders("dup");
        assertEquals(2, holders.size(), m.name() + " sees both");
        assertEquals("A", holders.get(0).name(), m.name() + " routes dup to A");
      }
      for (Object o : dups) {
        JsonObject d = (JsonObject) o;
        assertEquals(true, d.getBoolean("conflict"), d.encode());
        assertEquals("A".equals(d.getString("nodeName")), d.getBoolean("routed"), d.encode());
      }
      assertEquals(1, a.gateway().fleet().conflicts());
      assertEquals(1, b.gateway().fleet().conflicts());

      assertTrue(warnings.stream().anyMatch(w -> w.contains("guest dup is held by more than one")
          && w.contains("routes its requests to A")),
          "FleetView warned: " + warnings);
    } finally {
      fleetLog.removeHandler(capture);
    }
  }

  @Test
  void eventBusPortDefaultsToAFreePortAndIsChecked() {
    JsonObject cluster = new JsonObject().put("enabled", true);
    assertEquals(0, GatewayConfig.parse(new JsonObject().put("cluster", cluster))
        .cluster().eventBusPort());
    assertEquals(17001, GatewayConfig.parse(new JsonObject()
        .put("cluster", cluster.copy().put("eventBusPort", 17001))).cluster().eventBusPort());
    ConfigException wrong = assertThrows(ConfigException.class, () -> GatewayConfig.parse(
        new JsonObject().put("cluster", cluster.copy().put("eventBusPort", 70000))));
    assertTrue(wrong.getMessage().contains("cluster.eventBusPort"), wrong.getMessage());
  }

  // --- members ---

  /**
   * Authorization holds for a guest another member holds: the principal authenticated by B's
   * HTTP travels with the forwarded request and A, the holder, applies the grants; a refusal is
   * counted on A and A's agent sees nothing.
   */
  @Test
  void grantsHoldForGuestsOfAnotherMember() throws Exception {
    String token = "backup-" + "e".repeat(40);
    String hash = "sha256:" + java.util.HexFormat.of().formatHex(java.security.MessageDigest
        .getInstance("SHA-256").digest(token.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    extraConfig = new JsonObject()
        .put("http", new JsonObject().put("enabled", true).put("host", "127.0.0.1").put("port", 0))
        .put("auth", new JsonObject()
            .put("tokens", new JsonArray().add(new JsonObject().put("name", "backup")
                .put("hash", hash)))
            .put("grants", new JsonArray().add(new JsonObject()
                .put("principals", new JsonArray().add("backup"))
                .put("classes", new JsonArray().add("read").add("filesystem"))
                .put("guests", new JsonArray().add("b-*")))));
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    var client = b.vertx().createHttpClient();
    java.util.function.Function<String, Integer> fstrim = guest -> {
      try {
        return await(client.request(io.vertx.core.http.HttpMethod.POST,
                b.gateway().httpPort(), "127.0.0.1", "/v1/guests/" + guest + "/commands/fstrim")
            .compose(r -> r.putHeader("Authorization", "Bearer " + token).send())
            .compose(r -> r.body().map(body -> r.statusCode())));
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    };
    // b-1 is B's own: granted; a-1 is A's: B forwards, A refuses
    assertEquals(200, fstrim.apply("b-1"));
    assertEquals(1, fstrims(agentFor(b, "b-1")));
    assertEquals(403, fstrim.apply("a-1"));
    assertEquals(0, fstrims(agentFor(a, "a-1")), "A's agent saw no fstrim");
    var denied = registries.get("A").find("qga.denied").tag("reason", "not_granted")
        .tag("principal", "backup").counter();
    assertNotNull(denied, "the holder, A, counted the refusal");
    assertEquals(1, denied.count());
    // the principal went along: a bus request through B with none is the bus principal's
    // (unrestricted by default), so the refusal was the principal's, not the route's
    request(b, Addresses.local("agent.fstrim"), new JsonObject().put("guest", "a-1"));
    assertEquals(1, fstrims(agentFor(a, "a-1")));
    client.close();
  }

  private Member start(String name, int hazelcastPort, String... guests) throws Exception {
    return start(name, hazelcastPort, 0, guests);
  }

  private Member start(String name, int hazelcastPort, int eventBusPort, String... guests)
      throws Exception {
    JsonArray targets = new JsonArray();
    for (String guest : guests) {
      targets.add(new JsonObject().put("name", guest)
          .put("socket", dir.resolve(name + "-" + guest + ".sock").toString()));
    }
    GatewayConfig config = GatewayConfig.parse(new JsonObject()
        .put("node", new JsonObject().put("name", name))
        .put("guests", targets)
        .put("discovery", new JsonArray())
        .put("libvirt", new JsonObject().put("enabled", libvirt != null)
            .put("keepStoppedMs", 500))
        .put("http", new JsonObject().put("enabled", false))
        .put("demo", new JsonObject().put("simulated", demoSimulated).put("hostAgent", false))
        .put("shutdown", new JsonObject().put("drainMs", 1000))
        .put("cluster", new JsonObject().put("enabled", true).put("port", hazelcastPort)
            .put("eventBusPort", eventBusPort).put("unreachableRetentionMs", retentionMs)
            .put("minPeers", minPeers)
            .put("members", new JsonArray().add("127.0.0.1:" + portA).add("127.0.0.1:" + portB)))
        .mergeIn(extraConfig, true));
    Config hazelcast = ClusterSetup.hazelcastConfig(config.cluster()).setClusterName(clusterName);
    Vertx vertx = await(ClusterSetup.clustered(Vertx.builder(), new VertxOptions(),
        config.cluster(), hazelcast));
    assertTrue(vertx.isClustered());
    List<SimulatedAgent> agents = new ArrayList<>();
    try {
      for (int i = 0; i < guests.length; i++) {
        // host name = guest@member, so a test can tell two agents of one guest name apart
        SimulatedAgent agent = new SimulatedAgent(vertx, guests[i] + "@" + name, slowFstrim
            ? SimulatedAgent.Options.DEFAULTS.withWriter(SlowFstrim::write)
            : SimulatedAgent.Options.DEFAULTS);
        agents.add(agent);
        await(agent.listenUnix(targets.getJsonObject(i).getString("socket")));
      }
      Health health = new Health(true);
      health.clusterJoined();
      healths.put(name, health);
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      registries.put(name, registry);
      Gateway gateway = await(libvirt == null ? Gateway.start(vertx, config, registry, health)
          : Gateway.start(vertx, config, registry, health, libvirt));
      libvirt = null;
      Member member = new Member(name, vertx, gateway, agents);
      members.add(member);
      return member;
    } catch (Exception e) {
      vertx.close();
      throw e;
    }
  }

  private double refused(Member m) {
    var counter = registries.get(m.name()).find("qga.refused.requests").tag("reason", "publish")
        .counter();
    return counter == null ? 0 : counter.count();
  }

  private static long fstrims(SimulatedAgent agent) {
    return agent.received().stream().filter(r -> "guest-fstrim".equals(r.getString("execute")))
        .count();
  }

  private static SimulatedAgent agentFor(Member m, String guest) {
    return m.agent(guest + "@" + m.name());
  }

  // --- requests ---

  private static Message<JsonObject> request(Member m, String address, JsonObject body)
      throws Exception {
    return await(m.vertx().eventBus().<JsonObject>request(address, body,
        new DeliveryOptions().setSendTimeout(15_000)));
  }

  private static ReplyException failure(Member m, String address, JsonObject body)
      throws Exception {
    try {
      request(m, address, body);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ReplyException re) {
        return re;
      }
      throw e;
    }
    return fail(address + " " + body.encode() + " succeeded");
  }

  /** 200 or the failure code of a ping with a 2 s timeout; fails if no reply came in time. */
  private static int pingCode(Member m, String guest) throws Exception {
    long start = System.currentTimeMillis();
    int code;
    try {
      request(m, "agent.ping", new JsonObject().put("guest", guest).put("timeoutMs", 2000));
      code = 200;
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof ReplyException re)) {
        throw e;
      }
      code = re.failureCode();
    }
    long took = System.currentTimeMillis() - start;
    // the request's timeout plus the bus margin, plus slack for a loaded machine
    assertTrue(took < 2000 + 2000 + 3000, "ping " + guest + " took " + took + " ms");
    return code;
  }

  /** The failure of a 2 s ping, or null when it succeeded. */
  private static ReplyException pingFailure(Member m, String guest) throws Exception {
    try {
      request(m, "agent.ping", new JsonObject().put("guest", guest).put("timeoutMs", 2000));
      return null;
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ReplyException re) {
        return re;
      }
      throw e;
    }
  }

  /**
   * Stops a member's event loops until {@code resume}, as a SIGSTOP stops its event bus; its
   * Hazelcast threads run on, so only the probe can tell (Hazelcast's detection would not for
   * 10 s).
   */
  private static void hang(Member m, CountDownLatch resume) {
    ((VertxInternal) m.vertx()).nettyEventLoopGroup().forEach(loop -> loop.execute(() -> {
      try {
        resume.await(20, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
  }

  /** Waits until a ping of {@code guest} through the client succeeds. */
  private static void awaitClientPing(GatewayClient client, String guest, String what)
      throws Exception {
    eventually(what, () -> {
      try {
        await(client.request("agent.ping", new JsonObject().put("guest", guest)));
        return true;
      } catch (Exception e) {
        return false;
      }
    }, () -> "no answer");
  }

  private static ReplyException clientFailure(GatewayClient client, String address,
                                              JsonObject body) throws Exception {
    try {
      await(client.request(address, body));
    } catch (ExecutionException e) {
      return (ReplyException) e.getCause();
    }
    return fail(address + " " + body.encode() + " succeeded");
  }

  /** Members A (guest a-1) and B (b-1), once B's agent.ping is in the cluster's map. */
  private Member[] twoMembersWithBRegistered() throws Exception {
    Member a = start("A", portA, "a-1");
    Member b = start("B", portB, "b-1");
    awaitFleet("a-1", "b-1");
    eventually("B's agent.ping is registered in the cluster",
        () -> registeredNodes(a, "agent.ping").contains(b.id()),
        () -> registeredNodes(a, "agent.ping").toString());
    return new Member[] {a, b};
  }

  /** The node ids registered for an address in the cluster-wide map of registrations. */
  private static java.util.Set<String> registeredNodes(Member m, String address) {
    MultiMap<String, HazelcastRegistrationInfo> subs =
        ((GatewayClusterManager) ((VertxInternal) m.vertx()).clusterManager())
            .getHazelcastInstance().getMultiMap(GatewayClusterManager.SUBSCRIPTIONS_MAP);
    return subs.get(address).stream().map(i -> i.unwrap().nodeId()).collect(Collectors.toSet());
  }

  private static int pingCodeQuietly(Member m, String guest) {
    try {
      return pingCode(m, guest);
    } catch (Exception e) {
      return -1;
    }
  }

  private static String pingFailureQuietly(Member m, String guest) {
    try {
      ReplyException e = pingFailure(m, guest);
      return e == null ? "200" : e.failureCode() + " " + e.getMessage();
    } catch (Exception e) {
      return e.toString();
    }
  }

  private static JsonArray guests(Member m, JsonObject body) throws Exception {
    return request(m, "agent.guests", body).body().getJsonArray("guests");
  }

  /**
   * Waits until every member's fleet view knows these guest names (sorted, a name once per
   * holder) and {@code agent.guests} lists them all ready. The public addresses are served by
   * every member and a request goes to any of them, so all views must agree before a test
   * expects a particular answer.
   */
  private void awaitFleet(String... expected) throws Exception {
    List<String> want = List.of(expected);
    for (Member m : members) {
      eventually("member " + m.name() + "'s view holds " + want, () -> viewOf(m).equals(want),
          () -> viewOf(m).toString());
      // a duplicated name goes to a holder that answered over the bus: wait for the probes
      eventually("member " + m.name() + " heard every peer over the bus",
          () -> m.gateway().fleet().nodes().stream().filter(FleetView.Node::live)
              .allMatch(FleetView.Node::confirmed),
          () -> m.gateway().fleet().nodes().toString());
    }
    JsonArray[] last = new JsonArray[1];
    Member any = members.get(0);
    eventually("agent.guests lists " + want + " ready", () -> {
      try {
        last[0] = guests(any, new JsonObject());
      } catch (Exception e) {
        return false;
      }
      return names(last[0]).equals(want) && last[0].stream()
          .allMatch(g -> "ready".equals(((JsonObject) g).getString("state")));
    }, () -> last[0] == null ? "nothing" : last[0].encode());
  }

  /** The guest names a member's fleet view routes, once per holder, sorted. */
  private List<String> viewOf(Member m) {
    FleetView view = m.gateway().fleet();
    List<String> names = new ArrayList<>();
    for (Member holder : members) {
      holder.gateway().fleet().local().all().forEach(v -> names.add(v.target().name()));
    }
    List<String> out = new ArrayList<>();
    names.stream().distinct().forEach(n -> view.holders(n).forEach(h -> out.add(n)));
    Collections.sort(out);
    return out;
  }

  private static List<String> names(JsonArray guests) {
    return guests.stream().map(g -> ((JsonObject) g).getString("name"))
        .collect(Collectors.toList());
  }

  private static JsonObject entry(JsonArray guests, String name) {
    return guests.stream().map(g -> (JsonObject) g).filter(g -> name.equals(g.getString("name")))
        .findFirst().orElseThrow(() -> new AssertionError("no " + name + " in " + guests));
  }

  private static boolean pinged(SimulatedAgent agent) {
    return pings(agent) > 0;
  }

  private static int pings(SimulatedAgent agent) {
    return (int) agent.received().stream()
        .filter(r -> "guest-ping".equals(r.getString("execute"))).count();
  }

  // --- plumbing ---

  private static void eventually(String what, BooleanSupplier condition,
                                 java.util.function.Supplier<String> state) throws Exception {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() > deadline) {
        fail("timed out waiting until " + what + "; last: " + state.get());
      }
      Thread.sleep(100);
    }
  }

  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
