package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Addresses;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static io.qgagateway.testing.GatewayHarness.body;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A command runs once per request, and only for a request that can be answered: a publish to
 * {@code agent.*} reaches every dispatcher instance (one per event loop) and runs nothing; it is
 * counted once per member and logged.
 */
@ExtendWith(VertxExtension.class)
class ExactlyOnceTest {

  private static final String GUEST = "vm-1";
  // held: java.util.logging keeps loggers weakly, and a collected one loses the handler
  private static final Logger AUDIT = Logger.getLogger(Audit.LOGGER);

  private GatewayHarness h;
  private SimpleMeterRegistry registry;
  private final List<String> audit = new CopyOnWriteArrayList<>();
  private final Handler auditCapture = new Handler() {
    @Override
    public void publish(LogRecord r) {
      audit.add(r.getMessage());
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
    }
  };

  @BeforeEach
  void setUp(Vertx vertx, @TempDir Path dir) {
    AUDIT.addHandler(auditCapture);
    h = new GatewayHarness(vertx, dir);
    h.agent(GUEST, SimulatedAgent.Options.DEFAULTS);
    registry = new SimpleMeterRegistry();
    h.start(h.config(GUEST).put("policy", new JsonObject().put("allow",
        new JsonArray().add("file-put"))), registry);
    h.awaitReady(GUEST);
  }

  @AfterEach
  void tearDown() {
    AUDIT.removeHandler(auditCapture);
    h.close();
  }

  private long executed(String command) {
    return h.received(GUEST).stream().filter(command::equals).count();
  }

  private double refused(String reason) {
    var counter = registry.find("qga.refused.requests").tag("reason", reason).counter();
    return counter == null ? 0 : counter.count();
  }

  @Test
  void aPublishRunsNothingAndIsCountedOnceARequestRunsOnce() throws Exception {
    h.vertx.eventBus().publish("agent.fstrim", body(GUEST));
    // an append through file-put: the bug this guards against wrote the line once per dispatcher
    h.vertx.eventBus().publish("agent.file-put", body(GUEST).put("arguments", new JsonObject()
        .put("path", "/log").put("content-b64", "eAo=").put("mode", "a")));
    GatewayHarness.waitFor("both publishes counted", () -> refused("publish") >= 2);
    Thread.sleep(300);
    assertEquals(2, refused("publish"), "counted once per member, not once per dispatcher");
    assertEquals(0, executed("guest-fstrim"));
    assertEquals(0, executed("guest-file-open"));
    assertTrue(audit.isEmpty(), "nothing ran, nothing audited: " + audit);

    // a send nobody waits for runs nothing either
    h.vertx.eventBus().send("agent.fstrim", body(GUEST));
    GatewayHarness.waitFor("the send counted", () -> refused("no_reply_address") >= 1);
    assertEquals(0, executed("guest-fstrim"));

    // the guest's internal address refuses publishes too
    h.vertx.eventBus().publish(Addresses.link(h.gateway.node().id(), GUEST), body(GUEST),
        new io.vertx.core.eventbus.DeliveryOptions().addHeader("address", "fstrim"));
    GatewayHarness.waitFor("the internal publish counted", () -> refused("publish") >= 3);
    assertEquals(0, executed("guest-fstrim"));

    h.call("fstrim", body(GUEST));
    assertEquals(1, executed("guest-fstrim"), "one request, one execution");
    h.call("file-put", body(GUEST).put("arguments", new JsonObject().put("path", "/log")
        .put("content-b64", "eAo=").put("mode", "a")));
    assertEquals(1, executed("guest-file-write"));
    assertEquals(2, audit.size(), "one audit line per request: " + audit);
  }

  @Test
  void theMemberEntryRefusesWhatItCannotAnswerAndRunsARequestOnce() throws Exception {
    String entry = Addresses.entry(h.gateway.node().id());
    DeliveryOptions fstrim = new DeliveryOptions().addHeader(EntryVerticle.ADDRESS_HEADER,
        "agent.fstrim");
    // no address header, an address outside agent.*, an unknown command: coded, nothing runs
    assertEquals(403, GatewayHarness.failureOf(h.vertx.eventBus().request(entry, body(GUEST)))
        .failureCode());
    assertEquals(403, GatewayHarness.failureOf(h.vertx.eventBus().request(entry, body(GUEST),
        new DeliveryOptions().addHeader(EntryVerticle.ADDRESS_HEADER,
            Addresses.link(h.gateway.node().id(), GUEST)))).failureCode());
    assertEquals(400, GatewayHarness.failureOf(h.vertx.eventBus().request(entry, body(GUEST),
        new DeliveryOptions().addHeader(EntryVerticle.ADDRESS_HEADER, "agent.no-such"))
    ).failureCode());
    // a body that is not an object is the dispatcher's 400, as on agent.fstrim
    assertEquals(400, GatewayHarness.failureOf(h.vertx.eventBus().request(entry, "[1]", fstrim))
        .failureCode());
    // a send nobody waits for runs nothing
    h.vertx.eventBus().send(entry, body(GUEST), fstrim);
    GatewayHarness.waitFor("the send counted", () -> refused("no_reply_address") >= 1);
    assertEquals(0, executed("guest-fstrim"));

    GatewayHarness.await(h.vertx.eventBus().request(entry, body(GUEST), fstrim));
    assertEquals(1, executed("guest-fstrim"), "one request, one execution");
  }
}
