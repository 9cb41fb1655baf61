package io.qgagateway.vm;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.link.LinkState;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
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

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.failureOf;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A plain QEMU guest (no libvirt) whose QMP socket the gateway follows, on the real TCG VM of
 * {@link GuestVm}, started with {@code -no-shutdown} as libvirt starts it: what the agent's
 * socket never shows (the agent dying inside the guest, the guest powering off) reaches callers
 * at once, and shutdown is answered with the state QEMU reports.
 */
@Tag("vm")
@Timeout(value = 10, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class QmpVmTest {

  private static final String GUEST = "vm-qmp";

  @TempDir
  static Path dir;

  private static GuestVm vm;
  private static Vertx vertx;
  private static GatewayHarness harness;

  @BeforeAll
  static void boot() throws Exception {
    vm = GuestVm.boot(dir, GUEST, List.of("-no-shutdown"));
    vertx = TestVertx.create();
    harness = new GatewayHarness(vertx, dir);
    JsonObject config = harness.config(GUEST)
        .put("policy", new JsonObject().put("allow", new JsonArray().add("guest-exec")));
    config.getJsonArray("guests").getJsonObject(0)
        .put("qmp", GuestVm.qmpSocket(dir, GUEST).toString());
    harness.start(config, new SimpleMeterRegistry());
    harness.awaitReady(GUEST);
    waitFor("run state from QMP", () -> "running".equals(harness.link(GUEST).runState()));
  }

  @AfterAll
  static void halt() throws Exception {
    GuestVm.shutDown(harness, vertx, vm);
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static long millis(long nanos) {
    return TimeUnit.NANOSECONDS.toMillis(nanos);
  }

  /**
   * The agent is killed while it holds guest-set-time (the guest's slow hwclock): QEMU reports
   * the port closed, and the request fails at once, well before the 1 s probe would find it.
   */
  @Test
  @Order(1)
  void anAgentKilledInsideTheGuestFailsItsRequestWithinHalfASecond() {
    for (int i = 1; i <= 3; i++) {
      // QEMU sends at most one VSERPORT_CHANGE a second per port and keeps the last: a close
      // within a second of the port's last event (the agent opening it at boot, or after the
      // previous kill) comes at the end of that second, merged into the reopen; the link then
      // fails the request at the reopen, or the probe at 1 s does (HypervisorViewTest)
      sleep(1200);
      int mark = vm.consoleLines();
      Object pid = harness.call("exec", body(GUEST).put("arguments", new JsonObject()
              .put("path", "/usr/bin/qga-test-kill-agent").put("arg", new JsonArray().add("held"))))
          .getJsonObject("return").getValue("pid");
      assertInstanceOf(Number.class, pid);
      Future<JsonObject> held = harness.request("set-time", body(GUEST).put("timeoutMs", 30_000));
      AtomicLong failedAt = new AtomicLong();
      held.onComplete(ar -> failedAt.set(System.nanoTime()));
      ReplyException lost = failureOf(held);
      GuestVm.ConsoleLine kill = vm.awaitConsole(mark,
          l -> l.startsWith("qga-test: killing qemu-ga"), Duration.ofSeconds(10));
      long afterKill = millis(failedAt.get() - kill.nanos());
      System.out.printf("QmpVmTest: kill %d: 503 %d ms after the kill: %s%n", i, afterKill,
          lost.getMessage());
      assertEquals(Codes.NOT_CONNECTED, lost.failureCode(), lost.getMessage());
      assertTrue(lost.getMessage().contains("closed its port"), lost.getMessage());
      assertTrue(afterKill < 500, "503 came " + afterKill + " ms after the kill");
      waitFor("in sync with the new agent", () -> harness.link(GUEST).state() == LinkState.READY,
          Duration.ofSeconds(20));
      assertEquals(new JsonObject(), harness.call("ping", body(GUEST)).getJsonObject("return"));
    }
  }

  /** Shutdown is answered with the state QEMU shows; then every request at once. */
  @Test
  @Order(2)
  void shutdownReachesShutdownAndAShutOffGuestIsAnsweredAtOnce() {
    JsonObject reply = harness.call("shutdown", body(GUEST));
    assertEquals(new JsonObject().put("sent", true).put("reached", "shutdown"), reply);
    for (int i = 0; i < 5; i++) {
      long start = System.nanoTime();
      ReplyException e = harness.failure("get-osinfo", body(GUEST));
      long ms = millis(System.nanoTime() - start);
      assertEquals(Codes.NOT_CONNECTED, e.failureCode(), e.getMessage());
      assertEquals("guest " + GUEST + " is shutdown", e.getMessage());
      assertTrue(ms < 50, "answered after " + ms + " ms");
    }
    JsonObject listed = harness.call("guests", new JsonObject().put("guest", GUEST))
        .getJsonArray("guests").getJsonObject(0);
    assertEquals("shutdown", listed.getString("runState"), listed.encode());
  }
}
