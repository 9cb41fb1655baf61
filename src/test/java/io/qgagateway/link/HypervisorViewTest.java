package io.qgagateway.link;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.FakeQmp;
import io.qgagateway.testing.FaultyAgent;
import io.qgagateway.testing.FaultyAgent.Fault;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Future;
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
import java.time.Duration;

import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A plain-QEMU guest whose QMP monitor the gateway follows (a {@link FakeQmp} here; the real VM
 * tier runs the same against QEMU): what the agent's socket cannot show arrives at once.
 */
@ExtendWith(VertxExtension.class)
class HypervisorViewTest {

  private static final String GUEST = "vm-qmp";

  private Vertx vertx;
  private GatewayHarness h;
  private FakeQmp qmp;
  private FaultyAgent agent;

  @BeforeEach
  void start(Vertx vertx, @TempDir Path dir) {
    this.vertx = vertx;
    h = new GatewayHarness(vertx, dir);
    agent = GatewayHarness.await(new FaultyAgent(vertx, GUEST, SimulatedAgent.Options.DEFAULTS)
        .listenUnix(h.socket(GUEST).toString()));
    String qmpPath = dir.resolve("qmp.sock").toString();
    qmp = GatewayHarness.await(new FakeQmp(vertx).listen(qmpPath));
    JsonObject config = h.config(GUEST);
    config.getJsonArray("guests").getJsonObject(0).put("qmp", qmpPath);
    h.start(config, new SimpleMeterRegistry());
    h.awaitReady(GUEST);
    waitFor("run state known", () -> "running".equals(h.link(GUEST).runState()));
  }

  @AfterEach
  void stop() {
    h.close();
    GatewayHarness.await(qmp.close());
    GatewayHarness.await(agent.close());
  }

  private java.util.List<String> received() {
    return agent.agent().received().stream().map(r -> r.getString("execute")).toList();
  }

  private static long millisSince(long start) {
    return (System.nanoTime() - start) / 1_000_000;
  }

  @Test
  void anAgentThatClosesItsPortFailsItsRequestAtOnceAndIsSyncedWhenItReopens() {
    agent.next(1, Fault.HANG);
    Future<JsonObject> held = h.request("get-osinfo", body(GUEST).put("timeoutMs", 10_000));
    waitFor("request written", () -> received().contains("guest-get-osinfo"));
    long start = System.nanoTime();
    qmp.agentPort(false);
    ReplyException e = GatewayHarness.failureOf(held);
    assertEquals(Codes.NOT_CONNECTED, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().contains("closed its port"), e.getMessage());
    assertTrue(millisSince(start) < 500, "failed after " + millisSince(start) + " ms");
    // while the port is closed, requests are answered at once
    long asked = System.nanoTime();
    assertEquals(Codes.NOT_CONNECTED, h.failure("ping", body(GUEST)).failureCode());
    assertTrue(millisSince(asked) < 50, "answered after " + millisSince(asked) + " ms");
    qmp.agentPort(true);
    waitFor("in sync again", () -> h.link(GUEST).state() == LinkState.READY);
    h.call("ping", body(GUEST));
  }

  /** QEMU throttles VSERPORT_CHANGE to one a second per port, keeping the last event. */
  @Test
  void aReopenWhoseCloseQemuMergedAwayIsARestartToo() {
    agent.next(1, Fault.HANG);
    Future<JsonObject> held = h.request("get-osinfo", body(GUEST).put("timeoutMs", 10_000));
    waitFor("request written", () -> received().contains("guest-get-osinfo"));
    qmp.agentPort(true);
    ReplyException e = GatewayHarness.failureOf(held);
    assertEquals(Codes.NOT_CONNECTED, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().contains("restarted"), e.getMessage());
    waitFor("in sync again", () -> h.link(GUEST).state() == LinkState.READY);
    h.call("ping", body(GUEST));
  }

  @Test
  void aShutDownGuestIsAnsweredAtOnce() {
    qmp.state("shutdown", "SHUTDOWN");
    waitFor("state seen", () -> "shutdown".equals(h.link(GUEST).runState()));
    long start = System.nanoTime();
    ReplyException e = h.failure("get-osinfo", body(GUEST));
    assertTrue(millisSince(start) < 50, "answered after " + millisSince(start) + " ms");
    assertEquals(Codes.NOT_CONNECTED, e.failureCode());
    assertEquals("guest vm-qmp is shutdown", e.getMessage());
    JsonObject listed = h.call("guests", new JsonObject().put("guest", GUEST))
        .getJsonArray("guests").getJsonObject(0);
    assertEquals("shutdown", listed.getString("runState"));
  }

  @Test
  void aSuspendIsAnsweredWhenQemuShowsItAndAWakeUpResyncs() {
    Future<JsonObject> suspend = h.request("suspend-ram", body(GUEST));
    waitFor("suspend written", () -> received().contains("guest-suspend-ram"));
    vertx.setTimer(200, id -> qmp.state("suspended", "SUSPEND"));
    assertEquals(new JsonObject().put("sent", true).put("reached", "suspended"),
        GatewayHarness.await(suspend));
    assertEquals(Codes.NOT_CONNECTED, h.failure("ping", body(GUEST)).failureCode());
    JsonObject woken = h.call("wakeup", body(GUEST));
    assertEquals("woken", woken.getJsonObject("return").getString("state"));
    waitFor("running", () -> "running".equals(h.link(GUEST).runState()));
    waitFor("synced after the wake-up", () -> h.link(GUEST).state() == LinkState.READY);
    h.call("ping", body(GUEST));
    assertTrue(qmp.commands.contains("system_wakeup"));
  }

  @Test
  void aShutdownThatNeverHappensIsATimeoutNotSent() {
    ReplyException e = h.failure("shutdown", body(GUEST).put("timeoutMs", 1500));
    assertEquals(Codes.TIMEOUT, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().contains("was sent, but guest vm-qmp did not reach"), e.getMessage());
  }

  @Test
  void suspendToRamIsRefusedWhereQemuCannotWakeTheGuest() {
    qmp.wakeupSupport(false);
    // the monitor reads it at connect: make it reconnect
    GatewayHarness.await(h.gateway.stop());
    h.gateway = null;
    JsonObject config = h.config(GUEST);
    config.getJsonArray("guests").getJsonObject(0)
        .put("qmp", h.socket(GUEST).getParent().resolve("qmp.sock").toString());
    h.start(config, new SimpleMeterRegistry());
    h.awaitReady(GUEST);
    waitFor("run state known", () -> "running".equals(h.link(GUEST).runState()));
    ReplyException e = h.failure("suspend-ram", body(GUEST));
    assertEquals(Codes.UNSUPPORTED, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().contains("wakeup-suspend-support"), e.getMessage());
  }

  static Duration seconds(long s) {
    return Duration.ofSeconds(s);
  }
}
