package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Collections;
import java.util.List;

import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Freeze and thaw through the gateway against a simulated agent: the lease and its events. */
@ExtendWith(VertxExtension.class)
class FreezeTest {

  private static final String GUEST = "vm-freeze";

  private GatewayHarness h;
  private SimpleMeterRegistry registry;
  private SimulatedAgent agent;

  @BeforeEach
  void start(Vertx vertx, @TempDir Path dir) {
    h = new GatewayHarness(vertx, dir);
    agent = h.agent(GUEST, SimulatedAgent.Options.DEFAULTS);
    registry = new SimpleMeterRegistry();
    h.start(h.config(GUEST), registry);
    h.awaitReady(GUEST);
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private JsonObject freeze(long autoThawMs) {
    return h.call("fsfreeze-freeze", body(GUEST).put("autoThawMs", autoThawMs));
  }

  private long thawsReceived() {
    return h.received(GUEST).stream().filter("guest-fsfreeze-thaw"::equals).count();
  }

  private double autoThaws() {
    return registry.get("qga.auto.thaws").counter().count();
  }

  private double frozenGauge() {
    return registry.get("qga.frozen.guests").gauge().value();
  }

  @Test
  void aFreezeWithoutThawIsThawedByTheGatewayWhenTheLeaseEnds() {
    assertEquals(1, freeze(300).getInteger("return"));
    assertTrue(h.gateway.fleet().local().get(GUEST).endpoint().frozen());
    assertEquals(1.0, frozenGauge());
    assertEquals(0, thawsReceived());

    waitFor("auto-thaw reaches the agent", () -> thawsReceived() == 1);
    waitFor("auto-thawed event", () -> h.eventTypes(GUEST).contains("auto-thawed"));
    List<String> types = h.eventTypes(GUEST);
    assertTrue(types.indexOf("frozen") >= 0, "frozen event: " + types);
    assertTrue(types.indexOf("frozen") < types.indexOf("auto-thawed"), "order: " + types);
    assertFalse(types.contains("thawed"), "no plain thawed event: " + types);
    JsonObject autoThawed = h.events.stream()
        .filter(e -> "auto-thawed".equals(e.getString("type"))).findFirst().orElseThrow();
    assertEquals("test-node", h.gateway.node().name());
    assertEquals(h.gateway.node().id(), autoThawed.getString("node"));
    assertTrue(autoThawed.containsKey("time"));
    waitFor("metric", () -> autoThaws() == 1.0);
    assertEquals(0.0, frozenGauge());
    assertFalse(h.gateway.fleet().local().get(GUEST).endpoint().frozen());
    // the guest is usable again
    assertTrue(h.call("get-osinfo", body(GUEST)).getJsonObject("return").containsKey("id"));
  }

  @Test
  void anExplicitThawEndsTheLease() throws InterruptedException {
    freeze(300);
    assertEquals(1, h.call("fsfreeze-thaw", body(GUEST)).getInteger("return"));
    waitFor("thawed event", () -> h.eventTypes(GUEST).contains("thawed"));
    Thread.sleep(700);
    assertEquals(1, thawsReceived(), "only the explicit thaw: " + h.received(GUEST));
    assertFalse(h.eventTypes(GUEST).contains("auto-thawed"), h.eventTypes(GUEST).toString());
    assertEquals(0.0, autoThaws());
    assertEquals(0.0, frozenGauge());
  }

  @Test
  void freezingAFrozenGuestIs423AndTheLeaseStillHolds() {
    freeze(0);
    ReplyException again = h.failure("fsfreeze-freeze", body(GUEST));
    assertEquals(Codes.FROZEN, again.failureCode(), again.getMessage());
    assertTrue(h.gateway.fleet().local().get(GUEST).endpoint().frozen());
    assertEquals("frozen", h.call("fsfreeze-status", body(GUEST)).getString("return"));
    assertEquals(1, Collections.frequency(h.eventTypes(GUEST), "frozen"));
  }

  @Test
  void thawingAThawedGuestSucceedsWithZero() {
    assertEquals(0, h.call("fsfreeze-thaw", body(GUEST)).getInteger("return"));
    assertFalse(h.eventTypes(GUEST).contains("thawed"), "nothing was frozen: " + h.events);
  }

  @Test
  void otherCommandsAre423WhileFrozen() {
    freeze(0);
    ReplyException e = h.failure("get-osinfo", body(GUEST));
    assertEquals(Codes.FROZEN, e.failureCode(), e.getMessage());
    // ping and status still work while frozen, as with qemu-ga
    h.call("ping", body(GUEST));
    assertEquals("frozen", h.call("fsfreeze-status", body(GUEST)).getString("return"));
    h.call("fsfreeze-thaw", body(GUEST));
    h.call("get-osinfo", body(GUEST));
  }

  /**
   * A frozen agent lists most commands as disabled in guest-info. Before, a resync during a
   * freeze cached that list, and after the thaw get-osinfo was refused locally with 501.
   */
  @Test
  void aResyncDuringAFreezeDoesNotPoisonTheCapabilities() {
    freeze(0);
    h.call("sync", body(GUEST));
    assertEquals(Codes.FROZEN, h.failure("get-osinfo", body(GUEST)).failureCode());
    h.call("fsfreeze-thaw", body(GUEST));
    assertTrue(h.call("get-osinfo", body(GUEST)).getJsonObject("return").containsKey("id"));
    assertTrue(h.call("fstrim", body(GUEST)).containsKey("return"));
  }

  @Test
  void stoppingTheGatewayThawsAFrozenGuest() {
    freeze(600_000);
    assertEquals(0, thawsReceived());
    GatewayHarness.await(h.gateway.stop());
    h.gateway = null;
    assertEquals(1, thawsReceived(), h.received(GUEST).toString());
    // events travel the bus: they may arrive after the stop returned
    waitFor("auto-thawed event", () -> h.eventTypes(GUEST).contains("auto-thawed"));
    waitFor("agent thawed", () -> !agent.guest().frozen());
  }
}
