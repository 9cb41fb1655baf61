package io.qgagateway.fleet;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.Faults;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static io.qgagateway.testing.GatewayHarness.await;
import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.failureOf;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guests come and go without a restart: discovered sockets appear and vanish, configuration
 * edits add and remove static guests, requests to a removed guest fail cleanly, nothing is left
 * deployed; and a stop lets requests under way finish.
 */
class GuestLifecycleTest {

  @TempDir
  Path dir;

  private Vertx vertx;
  private GatewayHarness h;

  @BeforeEach
  void setUp() {
    vertx = TestVertx.create();
    h = new GatewayHarness(vertx, dir);
  }

  @AfterEach
  void tearDown() {
    h.close();
    await(vertx.close());
  }

  @Test
  void discoveredGuestsComeAndGo() throws Exception {
    Path channels = Files.createDirectories(dir.resolve("channel/target"));
    JsonObject config = h.config().put("discovery", new JsonArray().add(new JsonObject()
        .put("directory", channels.toString()).put("scanIntervalMs", 100)));
    h.start(config, new SimpleMeterRegistry());
    int baseline = vertx.deploymentIDs().size();

    // libvirt's layout: domain-<id>-<name>/org.qemu.guest_agent.0
    Path domain = Files.createDirectories(channels.resolve("domain-7-vm-a"));
    Path socket = domain.resolve("org.qemu.guest_agent.0");
    SimulatedAgent agent = new SimulatedAgent(vertx, "vm-a");
    await(agent.listenUnix(socket.toString()));
    h.awaitReady("vm-a");
    assertEquals(new JsonObject().put("return", new JsonObject()), h.call("ping", body("vm-a")));
    assertEquals(baseline + 1, vertx.deploymentIDs().size());

    // the VM stops: libvirt removes its channel directory
    await(agent.close());
    Files.deleteIfExists(socket);
    Files.delete(domain);
    waitFor("vm-a removed", () -> h.link("vm-a") == null);
    assertEquals(Codes.UNKNOWN_GUEST, h.failure("ping", body("vm-a")).failureCode());
    waitFor("link undeployed", () -> vertx.deploymentIDs().size() == baseline);
  }

  @Test
  void configurationEditsAddAndRemoveGuests() {
    h.agent("a", SimulatedAgent.Options.DEFAULTS
        .withWriter(Faults.delaying("guest-get-time", 5_000)));
    h.agent("b", SimulatedAgent.Options.DEFAULTS);
    h.start(h.config("a"), new SimpleMeterRegistry());
    h.awaitReady("a");
    assertEquals(Codes.UNKNOWN_GUEST, h.failure("ping", body("b")).failureCode());

    h.gateway.reconfigure(GatewayConfig.parse(h.config("a", "b")));
    h.awaitReady("b");
    h.call("ping", body("b"));

    // a request under way to a guest that is then removed fails at once, not at its timeout
    Future<JsonObject> slow = h.request("get-time", body("a"));
    waitFor("get-time written", () -> h.received("a").contains("guest-get-time"));
    long start = System.nanoTime();
    h.gateway.reconfigure(GatewayConfig.parse(h.config("b")));
    ReplyException removed = failureOf(slow);
    assertEquals(Codes.NOT_CONNECTED, removed.failureCode(), removed.getMessage());
    assertTrue((System.nanoTime() - start) / 1_000_000 < 4_000, "failed promptly");
    waitFor("a removed", () -> h.link("a") == null);
    assertEquals(Codes.UNKNOWN_GUEST, h.failure("ping", body("a")).failureCode());
    h.call("ping", body("b"));
  }

  @Test
  void aBadEditChangesNothing() {
    h.agent("a", SimulatedAgent.Options.DEFAULTS);
    h.start(h.config("a"), new SimpleMeterRegistry());
    h.awaitReady("a");
    JsonObject typo = h.config("a").put("policy", new JsonObject()
        .put("allow", new JsonArray().add("guest-exek")));
    try {
      h.gateway.reconfigure(GatewayConfig.parse(typo));
    } catch (RuntimeException expected) {
      assertTrue(expected.getMessage().contains("guest-exek"), expected.getMessage());
    }
    assertEquals(Codes.FORBIDDEN, h.failure("exec", new JsonObject().put("guest", "a")
        .put("arguments", new JsonObject().put("path", "/bin/true"))).failureCode());
    h.call("ping", body("a"));
  }

  @Test
  void stopLetsRequestsUnderWayFinish() {
    h.agent("a", SimulatedAgent.Options.DEFAULTS
        .withWriter(Faults.delaying("guest-get-time", 300)));
    h.start(h.config("a"), new SimpleMeterRegistry());
    h.awaitReady("a");
    Future<JsonObject> underWay = h.request("get-time", body("a"));
    waitFor("get-time written", () -> h.received("a").contains("guest-get-time"));
    var gateway = h.gateway;
    h.gateway = null;
    Future<Void> stopped = gateway.stop();
    assertTrue(await(underWay).getValue("return") instanceof Number, "drained, not dropped");
    await(stopped);
    assertNull(gateway.fleet().local().get("a"), "links closed");
    ReplyException after = failureOf(h.request("ping", body("a")));
    assertEquals(ReplyFailure.NO_HANDLERS, after.failureType(), "nobody serves agent.* any more");
  }
}
