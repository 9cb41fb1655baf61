package io.qgagateway.libvirt;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.libvirt.Hypervisor.DomainState;
import io.qgagateway.libvirt.Hypervisor.Events;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkState;
import io.qgagateway.testing.FakeHypervisor;
import io.qgagateway.testing.FakeHypervisor.Domain;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.qgagateway.testing.GatewayHarness.await;
import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.failureOf;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The libvirt backend against a fake libvirt: which domains are guests, how their state and
 * their agent's decide a request at once, libvirt's errors in the contract's codes, one call at a
 * time per guest, and the replies of shutdown, suspend and wake-up.
 */
class LibvirtBackendTest {

  @TempDir
  Path dir;
  Vertx vertx;
  GatewayHarness h;
  FakeHypervisor libvirt;

  @BeforeEach
  void setUp() {
    vertx = TestVertx.create();
    h = new GatewayHarness(vertx, dir);
    libvirt = new FakeHypervisor();
  }

  @AfterEach
  void tearDown() {
    h.close();
    await(vertx.close());
  }

  private void start(JsonObject libvirtSection) {
    JsonObject config = h.config().put("libvirt", libvirtSection.put("enabled", true))
        .put("policy", new JsonObject().put("allow", new JsonArray().add("command")));
    h.start(config, new SimpleMeterRegistry(), libvirt);
  }

  private void start() {
    start(new JsonObject().put("keepStoppedMs", 60_000));
  }

  private static JsonObject req(String guest, long timeoutMs) {
    return body(guest).put("timeoutMs", timeoutMs);
  }

  /** The failure of a request, and how long it took. */
  private record Timed(ReplyException failure, long ms) {
  }

  private Timed timedFailure(String suffix, JsonObject body) {
    long t0 = System.nanoTime();
    ReplyException e = h.failure(suffix, body);
    return new Timed(e, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
  }

  @Test
  void theGuestsAreTheActiveDomainsWithAnAgentChannel() {
    libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    Domain noChannel = libvirt.add("vm-b", DomainState.RUNNING, FakeHypervisor.pong());
    noChannel.agentChannel = false;
    libvirt.add("vm-c", DomainState.SHUTOFF, FakeHypervisor.pong());
    libvirt.add("bad name", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    JsonArray guests = h.call("guests", new JsonObject()).getJsonArray("guests");
    // the shut-off domain with an agent channel is listed as such, not served
    assertEquals(2, guests.size(), guests.encode());
    JsonObject c = h.call("guests", body("vm-c")).getJsonArray("guests").getJsonObject(0);
    assertEquals("shutoff", c.getString("runState"));
    assertEquals(Codes.NOT_CONNECTED, h.failure("ping", body("vm-c")).failureCode());
    JsonObject a = h.call("guests", body("vm-a")).getJsonArray("guests").getJsonObject(0);
    assertEquals("vm-a", a.getString("name"));
    assertEquals("libvirt", a.getString("transport"));
    assertEquals("test:///fake#" + libvirt.domainNamed("vm-a").uuid, a.getString("address"));
    assertEquals("ready", a.getString("state"));
    assertEquals("running", a.getString("runState"));
    assertEquals(new JsonObject().put("return", new JsonObject()), h.call("ping", body("vm-a")));
    // capabilities and freeze state were read first, through libvirt
    List<String> commands = libvirt.domainNamed("vm-a").commands;
    assertEquals(List.of("guest-fsfreeze-status", "guest-info", "guest-ping"), commands);
  }

  @Test
  void aDomainThatStartsBecomesAGuestByItsEventsAlone() {
    start();
    Domain d = libvirt.add("vm-new", DomainState.SHUTOFF, FakeHypervisor.pong());
    libvirt.start(d);
    waitFor("vm-new deployed", () -> h.link("vm-new") != null);
    waitFor("agent not connected yet", () -> h.link("vm-new").state() == LinkState.DISCONNECTED);
    Timed t = timedFailure("ping", body("vm-new"));
    assertEquals(Codes.NOT_CONNECTED, t.failure().failureCode());
    assertTrue(t.failure().getMessage().contains("agent of vm-new is not connected"),
        t.failure().getMessage());
    libvirt.agent(d, true);
    h.awaitReady("vm-new");
    h.call("ping", body("vm-new"));
    assertEquals(List.of("connected", "resynced"), h.eventTypes("vm-new"));
  }

  @Test
  void anAgentChannelPluggedIntoARunningDomainMakesItAGuestUntilUnplugged() {
    Domain d = libvirt.add("vm-plug", DomainState.RUNNING, FakeHypervisor.pong());
    d.agentChannel = false;
    start();
    assertEquals(Codes.UNKNOWN_GUEST, h.failure("ping", body("vm-plug")).failureCode());
    libvirt.agentChannel(d, true);
    waitFor("vm-plug deployed", () -> h.link("vm-plug") != null);
    libvirt.agent(d, true);
    h.awaitReady("vm-plug");
    h.call("ping", body("vm-plug"));
    libvirt.agentChannel(d, false);
    waitFor("vm-plug gone", () -> h.link("vm-plug") == null);
    assertEquals(Codes.UNKNOWN_GUEST, h.failure("ping", body("vm-plug")).failureCode());
    // the agent's own event is enough when the device event was missed
    d.agentChannel = true;
    libvirt.agent(d, true);
    h.awaitReady("vm-plug");
    h.call("ping", body("vm-plug"));
  }

  @Test
  void aShutOffDomainIsAnsweredAtOnceWithTheReasonWhileDefined() throws Exception {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start(new JsonObject().put("keepStoppedMs", 500));
    h.awaitReady("vm-a");
    libvirt.stop(d, 0);
    waitFor("vm-a gone from the links", () -> h.link("vm-a") == null);
    Timed t = timedFailure("ping", req("vm-a", 10_000));
    assertEquals(Codes.NOT_CONNECTED, t.failure().failureCode());
    assertTrue(t.failure().getMessage().contains("vm-a is shut off (shutdown)"),
        t.failure().getMessage());
    assertTrue(t.failure().getMessage().contains("held by"), t.failure().getMessage());
    assertTrue(t.ms() < 50, "answered in " + t.ms() + " ms");
    JsonObject listed = h.call("guests", body("vm-a")).getJsonArray("guests").getJsonObject(0);
    assertEquals("disconnected", listed.getString("state"));
    assertEquals("shutoff", listed.getString("runState"));
    // still defined: still listed, past keepStoppedMs
    Thread.sleep(700);
    assertEquals(Codes.NOT_CONNECTED, h.failure("ping", body("vm-a")).failureCode());
    // starting it again makes it a guest again
    libvirt.start(d);
    libvirt.agent(d, true);
    h.awaitReady("vm-a");
    // undefined once shut off: listed for keepStoppedMs, then gone
    libvirt.stop(d, 1);
    waitFor("vm-a stopped", () -> h.link("vm-a") == null);
    libvirt.undefine(d);
    assertTrue(h.failure("ping", body("vm-a")).getMessage().contains("destroyed"));
    waitFor("forgotten", () -> h.failure("ping", body("vm-a")).failureCode()
        == Codes.UNKNOWN_GUEST);
    // a domain defined shut off is listed as such from its event
    libvirt.define("vm-def");
    waitFor("vm-def listed", () -> h.failure("ping", body("vm-def")).failureCode()
        == Codes.NOT_CONNECTED);
  }

  @Test
  void aTransientDomainThatStopsIsListedForKeepStoppedMsThenGone() {
    Domain d = libvirt.add("vm-t", DomainState.RUNNING, FakeHypervisor.pong());
    start(new JsonObject().put("keepStoppedMs", 300));
    h.awaitReady("vm-t");
    libvirt.stopTransient(d);
    waitFor("vm-t stopped", () -> h.link("vm-t") == null);
    assertEquals(Codes.NOT_CONNECTED, h.failure("ping", body("vm-t")).failureCode());
    waitFor("forgotten", () -> h.failure("ping", body("vm-t")).failureCode()
        == Codes.UNKNOWN_GUEST);
  }

  @Test
  void pausedSuspendedAndAgentlessGuestsAreAnsweredAtOnce() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    libvirt.pause(d);
    waitFor("paused", () -> h.link("vm-a").state() == LinkState.DISCONNECTED);
    Timed paused = timedFailure("get-osinfo", req("vm-a", 10_000));
    assertEquals(Codes.NOT_CONNECTED, paused.failure().failureCode());
    assertTrue(paused.failure().getMessage().contains("is paused"), paused.failure().getMessage());
    assertTrue(paused.ms() < 50, "answered in " + paused.ms() + " ms");
    libvirt.resume(d);
    h.awaitReady("vm-a");
    libvirt.agent(d, false);
    waitFor("agent gone", () -> h.link("vm-a").state() == LinkState.DISCONNECTED);
    Timed agentless = timedFailure("ping", req("vm-a", 10_000));
    assertEquals(Codes.NOT_CONNECTED, agentless.failure().failureCode());
    assertTrue(agentless.ms() < 50, "answered in " + agentless.ms() + " ms");
    assertTrue(h.eventTypes("vm-a").contains("disconnected"));
    libvirt.agent(d, true);
    h.awaitReady("vm-a");
    h.call("ping", body("vm-a"));
  }

  @Test
  void aConnectedEventWithoutTheDisconnectedOneIsARestart() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    int infos = (int) d.commands.stream().filter("guest-info"::equals).count();
    libvirt.agent(d, true);
    waitFor("info read again", () -> d.commands.stream().filter("guest-info"::equals).count()
        > infos);
    h.awaitReady("vm-a");
    assertEquals(List.of("connected", "resynced", "disconnected", "connected", "resynced"),
        h.eventTypes("vm-a"));
  }

  @Test
  void libvirtsErrorsBecomeTheContractsCodes() {
    FakeHypervisor.Agent agent = (json, timeout) -> {
      String command = new JsonObject(json).getString("execute");
      String desc = switch (command) {
        case "guest-get-users" -> "The command guest-get-users has not been found";
        case "guest-get-disks" -> "Command guest-get-disks has been disabled: the agent is in "
            + "frozen state";
        case "guest-get-load" -> "failed to open file '/proc/loadavg': Permission denied";
        default -> null;
      };
      if (desc != null) {
        throw new HypervisorException(HypervisorException.INTERNAL_ERROR, 10,
            "internal error: unable to execute QEMU agent command '" + command + "': " + desc);
      }
      if (command.equals("guest-get-time")) {
        throw new HypervisorException(HypervisorException.AGENT_UNRESPONSIVE, 10,
            "Guest agent is not responding: Guest agent not available for now");
      }
      return "{\"return\":{}}";
    };
    libvirt.add("vm-a", DomainState.RUNNING, agent);
    start();
    h.awaitReady("vm-a");
    ReplyException notFound = h.failure("get-users", body("vm-a"));
    assertEquals(Codes.UNSUPPORTED, notFound.failureCode());
    assertEquals("CommandNotFound: The command guest-get-users has not been found",
        notFound.getMessage());
    assertEquals(Codes.FROZEN, h.failure("get-disks", body("vm-a")).failureCode());
    ReplyException agentError = h.failure("get-load", body("vm-a"));
    assertEquals(Codes.AGENT_ERROR, agentError.failureCode());
    assertEquals("GenericError: failed to open file '/proc/loadavg': Permission denied",
        agentError.getMessage());
    assertEquals(Codes.TIMEOUT, h.failure("get-time", body("vm-a")).failureCode());
  }

  @Test
  void aCallPastItsDeadlineIs504AndTheGuestsNextCallWaitsForLibvirtToFinish() {
    CountDownLatch release = new CountDownLatch(1);
    FakeHypervisor.Agent agent = (json, timeout) -> {
      if (json.contains("guest-get-fsinfo")) {
        try {
          release.await(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return "{\"return\":[]}";
      }
      return "{\"return\":{}}";
    };
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, agent);
    start();
    h.awaitReady("vm-a");
    Timed slow = timedFailure("get-fsinfo", req("vm-a", 300));
    assertEquals(Codes.TIMEOUT, slow.failure().failureCode());
    assertTrue(slow.ms() >= 290 && slow.ms() < 1500, "504 after " + slow.ms() + " ms");
    Future<JsonObject> next = h.request("ping", req("vm-a", 5000));
    vertx.setTimer(200, id -> release.countDown());
    assertEquals(new JsonObject().put("return", new JsonObject()), await(next));
    assertEquals(1, d.maxConcurrent.get());
  }

  @Test
  void eachGuestMakesOneCallAtATimeAndGuestsDoNotWaitForEachOther() {
    FakeHypervisor.Agent slow = (json, timeout) -> {
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return "{\"return\":{}}";
    };
    Domain a = libvirt.add("vm-a", DomainState.RUNNING, slow);
    Domain b = libvirt.add("vm-b", DomainState.RUNNING, slow);
    start();
    h.awaitReady("vm-a", "vm-b");
    List<Future<JsonObject>> all = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      all.add(h.request("ping", body("vm-a")));
      all.add(h.request("ping", body("vm-b")));
    }
    long t0 = System.nanoTime();
    await(Future.all(all));
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertEquals(1, a.maxConcurrent.get());
    assertEquals(1, b.maxConcurrent.get());
    // 10 calls of 50 ms each per guest: sequential per guest (500 ms), in parallel across
    // guests (not 1000 ms)
    assertTrue(ms >= 500 && ms < 900, "took " + ms + " ms");
  }

  @Test
  void shutdownSaysWhetherTheGuestReachedShutoff() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    JsonObject reply = h.call("shutdown", body("vm-a"));
    assertEquals(true, reply.getBoolean("sent"));
    assertTrue(List.of("shutdown", "shutoff").contains(reply.getString("reached")),
        reply.encode());
    assertTrue(d.commands.contains("guest-shutdown"));
  }

  @Test
  void aShutdownThatDoesNotHappenIs504AtTheDeadlineWithWhatTheGuestIs() {
    libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    libvirt.followThrough = false;
    start();
    h.awaitReady("vm-a");
    Timed t = timedFailure("shutdown", req("vm-a", 500));
    assertEquals(Codes.TIMEOUT, t.failure().failureCode());
    assertTrue(t.failure().getMessage().contains("was sent, but guest vm-a did not reach "
        + "shutdown or shutoff within 500 ms (it is running)"), t.failure().getMessage());
    assertTrue(t.ms() >= 400 && t.ms() < 1500, "took " + t.ms() + " ms");
  }

  @Test
  void suspendThenWakeUpResyncsBeforeTheNextCommand() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    JsonObject suspended = h.call("suspend-ram", body("vm-a"));
    assertEquals(new JsonObject().put("sent", true).put("reached", "suspended"), suspended);
    assertEquals("suspended", h.link("vm-a").runState());
    Timed asleep = timedFailure("ping", req("vm-a", 10_000));
    assertEquals(Codes.NOT_CONNECTED, asleep.failure().failureCode());
    assertTrue(asleep.failure().getMessage().contains("agent.wakeup"),
        asleep.failure().getMessage());
    assertTrue(asleep.ms() < 50, "answered in " + asleep.ms() + " ms");
    int before = d.commands.size();
    JsonObject woken = h.call("wakeup", body("vm-a")).getJsonObject("return");
    assertEquals(new JsonObject().put("state", "woken").put("agent", "ready"), woken);
    // woken, and capabilities read again before the reply
    assertEquals(List.of("wakeup", "guest-fsfreeze-status", "guest-info"),
        d.commands.subList(before, d.commands.size()));
    h.call("ping", body("vm-a"));
    ReplyException again = h.failure("wakeup", body("vm-a"));
    assertEquals(Codes.BAD_REQUEST, again.failureCode());
    assertEquals("guest vm-a is running, not suspended", again.getMessage());
  }

  @Test
  void suspendIsRefusedWhereLibvirtSaysTheGuestCouldNotBeWoken() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    d.suspendSupported = false;
    start();
    h.awaitReady("vm-a");
    ReplyException e = h.failure("suspend-ram", body("vm-a"));
    assertEquals(Codes.UNSUPPORTED, e.failureCode());
    assertTrue(e.getMessage().contains("suspend support"), e.getMessage());
    assertEquals(DomainState.RUNNING, d.state);
  }

  @Test
  void aLostConnectionIsAnsweredAtOnceAndTheGuestsComeBackWhenLibvirtDoes() {
    libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    libvirt.crashDaemon();
    waitFor("connection down", () -> h.link("vm-a").state() == LinkState.CONNECTING);
    Timed down = timedFailure("ping", req("vm-a", 10_000));
    assertEquals(Codes.NOT_CONNECTED, down.failure().failureCode());
    assertTrue(down.failure().getMessage().contains("connection to libvirt"),
        down.failure().getMessage());
    assertTrue(down.ms() < 50, "answered in " + down.ms() + " ms");
    libvirt.restart();
    h.awaitReady("vm-a");
    h.call("ping", body("vm-a"));
    assertTrue(libvirt.opens.get() >= 2);
  }

  @Test
  void aDomainThatStoppedWhileLibvirtWasAwayIsGoneAfterTheReconnect() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    libvirt.crashDaemon();
    d.state = DomainState.SHUTOFF;
    libvirt.restart();
    waitFor("vm-a removed", () -> h.link("vm-a") == null);
    ReplyException e = h.failure("ping", body("vm-a"));
    assertEquals(Codes.NOT_CONNECTED, e.failureCode());
    assertTrue(e.getMessage().contains("shut off"), e.getMessage());
  }

  @Test
  void aMigratedDomainLeavesNoTrace() {
    Domain d = libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    libvirt.stop(d, 3);
    waitFor("vm-a removed", () -> h.link("vm-a") == null);
    assertEquals(Codes.UNKNOWN_GUEST, h.failure("ping", body("vm-a")).failureCode());
  }

  @Test
  void aRebootIsReportedReachedWhenLibvirtSeesIt() {
    libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    JsonObject reply = h.call("shutdown", body("vm-a")
        .put("arguments", new JsonObject().put("mode", "reboot")));
    assertEquals(new JsonObject().put("sent", true).put("reached", "rebooted"), reply);
    // the agent is gone until it reconnects after the boot: answered at once meanwhile
    assertEquals(LinkState.DISCONNECTED, h.link("vm-a").state());
    assertEquals(Codes.NOT_CONNECTED, h.failure("ping", body("vm-a")).failureCode());
    libvirt.agent(libvirt.domainNamed("vm-a"), true);
    h.awaitReady("vm-a");
  }

  @Test
  void theChannelReportsTheDomainForTheListing() {
    libvirt.add("vm-a", DomainState.RUNNING, FakeHypervisor.pong());
    start();
    h.awaitReady("vm-a");
    AgentChannel link = h.link("vm-a");
    assertEquals(GuestTarget.Transport.LIBVIRT, link.target().transport());
    assertEquals("running", link.runState());
    assertFalse(h.gateway.backends().isEmpty());
    assertEquals("socket, libvirt test:///fake", h.gateway.backends());
    // an unrelated lifecycle event of an unknown domain changes nothing
    Domain other = libvirt.add("vm-x", DomainState.RUNNING, FakeHypervisor.pong());
    other.agentChannel = false;
    libvirt.emitLifecycle(other, Events.RESUMED, 0);
    assertEquals(1, h.gateway.fleet().local().size());
  }
}
