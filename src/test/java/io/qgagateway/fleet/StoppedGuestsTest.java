package io.qgagateway.fleet;

import io.qgagateway.api.Addresses;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A libvirt domain that shut off lately on one member is answered with the reason on every
 * member (not 404), and listed by all of them.
 */
class StoppedGuestsTest {

  Vertx vertx = TestVertx.create();

  @AfterEach
  void close() throws Exception {
    vertx.close().await(10, TimeUnit.SECONDS);
  }

  @Test
  void aStoppedDomainOfAnotherMemberIsKnownWithItsReason() throws Exception {
    FleetView a = new FleetView(new NodeIdentity("a", "node-a"), new LocalGuests());
    FleetView b = new FleetView(new NodeIdentity("b", "node-b"), new LocalGuests());
    a.local().putStopped("vm-1", new JsonObject().put("transport", "libvirt")
        .put("state", "disconnected").put("runState", "shutoff")
        .put("lastError", "domain vm-1 is shut off (shutdown)"));
    vertx.deployVerticle(new FleetVerticle(a, 100)).await(10, TimeUnit.SECONDS);
    vertx.deployVerticle(new FleetVerticle(b, 100)).await(10, TimeUnit.SECONDS);

    assertEquals(Optional.of("domain vm-1 is shut off (shutdown)"), a.stoppedReason("vm-1"));
    waitFor("b learns of it", () -> b.stoppedReason("vm-1").isPresent());
    assertEquals("domain vm-1 is shut off (shutdown) (on node-a)", b.stoppedReason("vm-1").get());
    assertTrue(b.route("vm-1").isEmpty(), "nobody holds it: no route");
    assertTrue(b.stoppedReason("vm-2").isEmpty());

    // the listing of either member shows it, with the member it stopped on
    for (int i = 0; i < 2; i++) {
      JsonArray guests = vertx.eventBus().<JsonObject>request(Addresses.GUESTS,
          new JsonObject().put("guest", "vm-1")).map(Message::body)
          .await(10, TimeUnit.SECONDS).getJsonArray("guests");
      assertEquals(1, guests.size(), guests.encode());
      assertEquals("a", guests.getJsonObject(0).getString("node"));
      assertEquals("shutoff", guests.getJsonObject(0).getString("runState"));
    }

    a.local().removeStopped("vm-1");
    waitFor("b forgets it", () -> b.stoppedReason("vm-1").isEmpty());
  }
}
