package io.qgagateway.e2e;

import io.qgagateway.api.Codes;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The gateway against a real qemu-ga 7.x run on this host (sandboxed, dangerous commands
 * blocked), over the event bus: what a real agent answers passes through unchanged, blocked
 * commands are 501, sync and guests work, and the link comes back after the agent restarts.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RealAgentTest {

  private static final String GUEST = RealAgentFixture.GUEST;

  @RegisterExtension
  static final RealAgentExtension AGENT = new RealAgentExtension(false, new JsonObject());

  /** The restart test leaves the link reconnecting; every test starts from a ready guest. */
  @BeforeEach
  void ready() throws Exception {
    AGENT.fixture().awaitReady(15_000);
  }

  private static JsonObject request() {
    return new JsonObject().put("guest", GUEST);
  }

  private static JsonObject ok(String address) throws Exception {
    return Bus.ok(AGENT.vertx(), address, request());
  }

  @Test
  void ping() throws Exception {
    assertEquals(new JsonObject().put("return", new JsonObject()), ok("agent.ping"));
  }

  @Test
  void infoIsTheAgentsOwn() throws Exception {
    JsonObject info = ok("agent.info").getJsonObject("return");
    assertTrue(info.getString("version").matches("\\d+\\.\\d+\\.\\d+.*"), info.encode());
    JsonArray commands = info.getJsonArray("supported_commands");
    assertTrue(commands.stream().anyMatch(c -> "guest-ping".equals(((JsonObject) c)
        .getString("name")) && ((JsonObject) c).getBoolean("enabled")), commands.encode());
    // what the sandbox blocks is reported disabled by the agent itself
    assertTrue(commands.stream().anyMatch(c -> "guest-fstrim".equals(((JsonObject) c)
        .getString("name")) && !((JsonObject) c).getBoolean("enabled")), commands.encode());
  }

  @Test
  void osInfo() throws Exception {
    JsonObject os = ok("agent.get-osinfo").getJsonObject("return");
    assertFalse(os.getString("kernel-release", "").isEmpty(), os.encode());
    assertFalse(os.getString("machine", "").isEmpty(), os.encode());
  }

  @Test
  void networkInterfacesIncludeLoopback() throws Exception {
    JsonArray interfaces = ok("agent.network-get-interfaces").getJsonArray("return");
    assertTrue(interfaces.stream().anyMatch(i -> "lo".equals(((JsonObject) i).getString("name"))),
        interfaces.encode());
  }

  @Test
  void time() throws Exception {
    Object time = ok("agent.get-time").getValue("return");
    assertInstanceOf(Number.class, time);
    long nanos = ((Number) time).longValue();
    long now = System.currentTimeMillis() * 1_000_000L;
    assertTrue(Math.abs(now - nanos) < 60_000_000_000L, "agent time " + nanos + " vs " + now);
  }

  @Test
  void fsfreezeStatusIsThawed() throws Exception {
    assertEquals("thawed", ok("agent.fsfreeze-status").getString("return"));
  }

  @Test
  void blockedCommandIsUnsupported() throws Exception {
    ReplyException e = Bus.failure(AGENT.vertx(), "agent.fstrim", request());
    assertEquals(Codes.UNSUPPORTED, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().startsWith("CommandNotFound:"), e.getMessage());
    // and the link is none the worse for it
    ok("agent.ping");
  }

  @Test
  void commandTheAgentLacksIsRefusedLocally() throws Exception {
    // guest-get-load is from QEMU 10.0; the cached guest-info of an older agent lacks it
    String version = AGENT.fixture().awaitReady(15_000).getJsonObject("agent").getString("version");
    assumeTrue(version.startsWith("7.") || version.startsWith("8.") || version.startsWith("9."),
        "agent " + version + " may know guest-get-load");
    ReplyException e = Bus.failure(AGENT.vertx(), "agent.get-load", request());
    assertEquals(Codes.UNSUPPORTED, e.failureCode(), e.getMessage());
    assertTrue(e.getMessage().startsWith("CommandNotFound: The command guest-get-load has not "
        + "been found (agent " + version), e.getMessage());
    // the disabled path again, after the lookup above
    assertTrue(Bus.failure(AGENT.vertx(), "agent.fstrim", request()).getMessage()
        .endsWith("has been disabled"));
  }

  @Test
  void syncReportsRoundTrip() throws Exception {
    Object rtt = ok("agent.sync").getJsonObject("return").getValue("rttMicros");
    assertInstanceOf(Number.class, rtt);
    assertTrue(((Number) rtt).longValue() >= 0);
    ok("agent.ping");
  }

  @Test
  void guestsListTheHostAgent() throws Exception {
    JsonArray guests = Bus.ok(AGENT.vertx(), "agent.guests", new JsonObject()).getJsonArray("guests");
    assertEquals(1, guests.size(), guests.encode());
    JsonObject host = guests.getJsonObject(0);
    assertEquals(GUEST, host.getString("name"));
    assertEquals("ready", host.getString("state"));
    assertEquals("unix", host.getString("transport"));
    assertEquals(AGENT.fixture().agent().socket().toString(), host.getString("address"));
    assertEquals(false, host.getBoolean("frozen"));
    assertEquals("id", host.getString("replyMatching"), "qemu-ga 7.2 echoes request ids");
    assertEquals(ok("agent.info").getJsonObject("return").getString("version"),
        host.getJsonObject("agent").getString("version"));
    assertTrue(host.getJsonObject("agent").getJsonArray("commands").contains("guest-ping"),
        host.encode());
  }

  @Test
  void reconnectsAfterTheAgentRestarts() throws Exception {
    List<JsonObject> events = new CopyOnWriteArrayList<>();
    MessageConsumer<JsonObject> consumer = AGENT.vertx().eventBus().consumer("agent.events",
        m -> events.add(m.body()));
    consumer.completion().await(5, TimeUnit.SECONDS);
    try {
      long pid = AGENT.fixture().agent().pid();
      AGENT.fixture().agent().restart();
      assertNotEquals(pid, AGENT.fixture().agent().pid());

      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      ReplyException last = null;
      boolean pinged = false;
      while (!pinged && System.nanoTime() < deadline) {
        try {
          Bus.ok(AGENT.vertx(), "agent.ping", request().put("timeoutMs", 1000));
          pinged = true;
        } catch (AssertionError e) {
          last = e.getCause() instanceof ReplyException re ? re : null;
          Thread.sleep(100);
        }
      }
      assertTrue(pinged, "no ping within 10 s of the restart; last failure: "
          + (last == null ? null : last.failureCode() + " " + last.getMessage())
          + "; agent log: " + AGENT.fixture().agentLog());
      assertEquals("ready", AGENT.fixture().awaitReady(5_000).getString("state"));
      assertTrue(AGENT.fixture().agent().alive(), "the agent must still be running");
      assertTrue(events.stream().anyMatch(e -> "disconnected".equals(e.getString("type"))
          && GUEST.equals(e.getString("guest"))), events.toString());
      assertTrue(events.stream().anyMatch(e -> "connected".equals(e.getString("type"))
          && GUEST.equals(e.getString("guest"))), events.toString());
    } finally {
      consumer.unregister();
    }
  }
}
