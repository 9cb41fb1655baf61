package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.LinkState;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.SocketAddress;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A guest that is already frozen when the gateway connects: left by a gateway that crashed
 * holding the lease, or frozen by another tool. Before, the gateway cached the frozen agent's
 * guest-info (most commands disabled), answered 501 instead of 423, listed it {@code frozen:
 * false} and never thawed it.
 */
@ExtendWith(VertxExtension.class)
class FoundFrozenTest {

  private static final String GUEST = "vm-left-frozen";

  private Vertx vertx;
  private GatewayHarness h;
  private SimulatedAgent agent;
  private SimpleMeterRegistry registry;

  @BeforeEach
  void start(Vertx vertx, @TempDir Path dir) {
    this.vertx = vertx;
    h = new GatewayHarness(vertx, dir);
    agent = h.agent(GUEST, SimulatedAgent.Options.DEFAULTS);
    freezeWithAnotherClient(h.socket(GUEST));
    assertTrue(agent.guest().frozen());
    registry = new SimpleMeterRegistry();
  }

  @AfterEach
  void stop() {
    h.close();
  }

  /** Another tool's freeze: a client of its own writes the command, reads the reply, leaves. */
  private void freezeWithAnotherClient(Path socket) {
    NetClient client = vertx.createNetClient();
    Promise<Buffer> reply = Promise.promise();
    client.connect(SocketAddress.domainSocketAddress(socket.toString())).onSuccess(s -> {
      s.handler(b -> {
        reply.tryComplete(b);
        s.close();
      });
      s.write("{\"execute\":\"guest-fsfreeze-freeze\"}\n");
    }).onFailure(reply::tryFail);
    GatewayHarness.await(reply.future());
    GatewayHarness.await(client.close());
  }

  private void startGateway(boolean thawForeign) {
    JsonObject config = h.config(GUEST).put("freeze", new JsonObject().put("autoThawMs", 800)
        .put("thawForeign", thawForeign));
    h.start(config, registry);
    waitFor("link in sync", () -> {
      AgentChannel l = h.link(GUEST);
      return l != null && l.state() == LinkState.READY;
    });
    waitFor("frozen found", () -> h.gateway.fleet().local().get(GUEST).endpoint().frozen());
  }

  @Test
  void aGuestFoundFrozenIsReportedAnswers423AndIsThawedWhenItsLeaseEnds() {
    startGateway(true);
    assertEquals(1.0, registry.get("qga.frozen.guests").gauge().value());
    waitFor("frozen event", () -> h.eventTypes(GUEST).contains("frozen"));
    JsonObject frozenEvent = h.events.stream()
        .filter(e -> "frozen".equals(e.getString("type"))).findFirst().orElseThrow();
    assertEquals("found frozen", frozenEvent.getString("reason"));
    assertNull(h.link(GUEST).agentInfo(), "a frozen agent's list is not its capabilities");
    ReplyException e = h.failure("get-osinfo", body(GUEST));
    assertEquals(Codes.FROZEN, e.failureCode(), e.getMessage());

    waitFor("auto-thawed event", () -> h.eventTypes(GUEST).contains("auto-thawed"));
    waitFor("agent thawed", () -> !agent.guest().frozen());
    waitFor("capabilities learned after the thaw", () -> h.link(GUEST).agentInfo() != null);
    assertTrue(h.call("get-osinfo", body(GUEST)).getJsonObject("return").containsKey("id"));
    assertFalse(h.gateway.fleet().local().get(GUEST).endpoint().frozen());
  }

  @Test
  void withThawForeignOffAFoundFreezeIsReportedButLeftAlone() throws InterruptedException {
    startGateway(false);
    Thread.sleep(1200);
    assertTrue(agent.guest().frozen(), "not thawed: " + h.received(GUEST));
    assertFalse(h.eventTypes(GUEST).contains("auto-thawed"));
    assertEquals(Codes.FROZEN, h.failure("get-osinfo", body(GUEST)).failureCode());
    // a thaw by the caller works, and the capabilities come back
    assertEquals(1, h.call("fsfreeze-thaw", body(GUEST)).getInteger("return"));
    waitFor("capabilities learned after the thaw", () -> h.link(GUEST).agentInfo() != null);
    assertTrue(h.call("get-osinfo", body(GUEST)).getJsonObject("return").containsKey("id"));
  }
}
