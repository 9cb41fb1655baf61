package io.qgagateway.link;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.protocol.RequestLimits;
import io.qgagateway.testing.ManualDriver;
import io.qgagateway.testing.ManualDriver.FakeWire;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The link's state machine fed byte by byte through {@link ManualDriver}: no socket, no sleep.
 * Each test is one behaviour of the protocol, as the agent's answers make it happen.
 */
class GuestLinkProtocolTest {

  private static final LinkOptions OPTIONS =
      new LinkOptions(64 * 1024, 8, 300, 2, 50, 400, 3000, 2000, 1000);
  private static final JsonObject INFO = new JsonObject().put("version", "7.2.22")
      .put("supported_commands", new JsonArray()
          .add(new JsonObject().put("name", "guest-ping").put("enabled", true))
          .add(new JsonObject().put("name", "guest-get-osinfo").put("enabled", true)));
  private static final JsonObject FROZEN_INFO = new JsonObject().put("version", "7.2.22")
      .put("supported_commands", new JsonArray()
          .add(new JsonObject().put("name", "guest-ping").put("enabled", true))
          .add(new JsonObject().put("name", "guest-get-osinfo").put("enabled", false)));

  private ManualDriver driver;
  private GuestLink link;
  private FakeWire wire;
  private final List<ResyncReason> resyncs = new ArrayList<>();
  private final List<DiscardKind> discards = new ArrayList<>();
  private final List<String> refreshed = new ArrayList<>();

  @BeforeEach
  void setUp() {
    driver = new ManualDriver();
    link = new GuestLink(driver, GuestTarget.unix("vm", "/nowhere"), OPTIONS,
        new LinkObserver() {
          @Override
          public void resynced(AgentChannel l, ResyncReason reason, long nanos) {
            resyncs.add(reason);
          }

          @Override
          public void discarded(AgentChannel l, DiscardKind kind) {
            discards.add(kind);
          }
        });
    link.refreshListener(refreshed::add);
  }

  // ---- helpers: the agent's side of the conversation --------------------------------------------

  /** Connects and answers the sync, echoing the id member when {@code echo}. */
  private void connectAndSync(boolean echo) {
    link.start();
    wire = driver.accept();
    answerSync(echo);
  }

  private void answerSync(boolean echo) {
    long id = syncId();
    wire.agentSays("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON parse error, stray"
        + " '\\ufffd'\"}}\n<FF>{\"return\":" + id + (echo ? ",\"id\":" + id : "") + "}\n");
  }

  /** The sync id of the last 0xFF-led write. */
  private long syncId() {
    String last = wire.texts().get(wire.texts().size() - 1);
    assertTrue(last.startsWith("<FF>"), "expected a sync, got " + last);
    return wire.lastJson().getJsonObject("arguments").getLong("id");
  }

  /** Connects, syncs, answers the refresh (thawed, INFO): the link is idle and ready. */
  private void ready() {
    connectAndSync(true);
    answerLast("\"thawed\"");
    answerLast(INFO.encode());
    assertEquals(LinkState.READY, link.state());
    assertEquals("id", link.replyMatching());
  }

  /** Answers the last command written with {@code returnJson}, echoing its id if it has one. */
  private void answerLast(String returnJson) {
    JsonObject request = wire.lastJson();
    Object id = request.getValue("id");
    wire.agentSays("{\"return\":" + returnJson + (id != null ? ",\"id\":" + id : "") + "}\n");
  }

  private String lastCommand() {
    return wire.lastJson().getString("execute");
  }

  private static int code(Future<?> f) {
    assertTrue(f.failed(), "expected a failure, got " + (f.isComplete() ? f.result() : "nothing"));
    return ((GatewayFailure) f.cause()).failureCode();
  }

  private Future<JsonObject> ping(long timeoutMs) {
    return link.execute("guest-ping", null, Deadline.in(timeoutMs), true);
  }

  // ---- sync and reply matching ------------------------------------------------------------------

  @Test
  void anAgentThatEchoesTheSyncIdIsMatchedById() {
    ready();
    Future<JsonObject> r = ping(3000);
    JsonObject written = wire.lastJson();
    assertTrue(written.getValue("id") instanceof Number, "the command carries an id: " + written);
    answerLast("{}");
    assertEquals(new JsonObject().put("return", new JsonObject()), r.result());
  }

  @Test
  void anAgentThatIgnoresTheIdMemberIsMatchedByOrder() {
    connectAndSync(false);
    assertEquals("order", link.replyMatching());
    assertNull(wire.lastJson().getValue("id"), "no id member once the agent did not echo it");
  }

  @Test
  void anAgentThatRejectsTheIdMemberIsSyncedAgainWithoutIt() {
    link.start();
    wire = driver.accept();
    wire.agentSays("{\"error\":{\"class\":\"GenericError\",\"desc\":\"stray\"}}\n"
        + "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member 'id' is"
        + " unexpected\"}}\n");
    assertFalse(wire.texts().get(wire.texts().size() - 1).contains("\"id\":" + "x"));
    JsonObject again = wire.lastJson();
    assertNull(again.getValue("id"), "the second sync has no id member: " + again);
    answerSync(false);
    assertEquals(LinkState.READY, link.state());
    assertEquals("order", link.replyMatching());
  }

  @Test
  void aReplyWithAnotherIdIsDroppedAndTheLinkResyncsBeforeTheNextWrite() {
    ready();
    discards.clear();
    Future<JsonObject> first = ping(3000);
    long id = wire.lastJson().getLong("id");
    wire.agentSays("{\"return\":{\"host-name\":\"stale\"},\"id\":" + (id + 1) + "}\n");
    assertFalse(first.isComplete(), "a reply with someone else's id completes nothing");
    assertEquals(List.of(DiscardKind.STALE_REPLY), discards);
    Future<JsonObject> second = link.execute("guest-get-host-name", null, Deadline.in(3000),
        true);
    answerLast("{}");
    assertTrue(first.succeeded());
    assertTrue(wire.texts().get(wire.texts().size() - 1).startsWith("<FF>"),
        "a resync comes before the next command");
    assertFalse(second.isComplete());
  }

  @Test
  void anErrorWithoutIdIsTheAgentFailingToParseTheRequest() {
    ready();
    Future<JsonObject> r = ping(3000);
    wire.agentSays("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON token count limit"
        + " exceeded\"}}\n{\"return\":{}}\n");
    assertEquals(Codes.AGENT_ERROR, code(r));
    assertEquals("GenericError", ((GatewayFailure) r.cause()).agentClass());
    assertEquals(LinkState.SYNCING, link.state());
    assertEquals(ResyncReason.PROTOCOL_ERROR, lastResync(ResyncReason.PROTOCOL_ERROR));
  }

  @Test
  void aParseErrorInOrderModeAlsoResyncs() {
    connectAndSync(false);
    answerLast("\"thawed\"");
    answerLast(INFO.encode());
    Future<JsonObject> r = ping(3000);
    wire.agentSays("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON parse error,"
        + " invalid keyword\"}}\n");
    assertEquals(Codes.AGENT_ERROR, code(r));
    assertEquals(LinkState.SYNCING, link.state());
  }

  private ResyncReason lastResync(ResyncReason expected) {
    // the resync happens when its answer comes; here it has been written
    assertTrue(wire.texts().get(wire.texts().size() - 1).startsWith("<FF>"));
    return expected;
  }

  // ---- request limits ---------------------------------------------------------------------------

  @Test
  void aRequestTheAgentWouldSplitIsRefusedAndNothingIsWritten() {
    ready();
    int writes = wire.writes.size();
    JsonArray many = new JsonArray();
    for (int i = 0; i < RequestLimits.MAX_TOKENS; i++) {
      many.add(1);
    }
    Future<JsonObject> r = link.execute("guest-ping", new JsonObject().put("a", many),
        Deadline.in(3000), true);
    assertEquals(Codes.BAD_REQUEST, code(r));
    assertTrue(r.cause().getMessage().contains("tokens"), r.cause().getMessage());
    assertEquals(writes, wire.writes.size());
  }

  @Test
  void deepNestingIsRefused() {
    ready();
    Object nested = 1;
    for (int i = 0; i < RequestLimits.MAX_DEPTH + 5; i++) {
      nested = new JsonArray().add(nested);
    }
    Future<JsonObject> r = link.execute("guest-x", new JsonObject().put("a", nested),
        Deadline.in(3000), true);
    assertEquals(Codes.BAD_REQUEST, code(r));
    assertTrue(r.cause().getMessage().contains("nest"), r.cause().getMessage());
  }

  // ---- a request the agent lost -----------------------------------------------------------------

  @Test
  void aRequestTheAgentLostFailsWhenTheProbeBehindItIsAnsweredFirst() {
    ready();
    Future<JsonObject> r = ping(10_000);
    driver.advance(999);
    assertFalse(r.isComplete());
    driver.advance(1);
    String probe = wire.texts().get(wire.texts().size() - 1);
    assertTrue(probe.startsWith("{\"execute\":\"guest-sync-delimited\""),
        "a sync without 0xFF goes behind the command: " + probe);
    long probeId = wire.lastJson().getJsonObject("arguments").getLong("id");
    // a new agent (the old one died holding the ping) answers only the probe
    wire.agentSays("<FF>{\"return\":" + probeId + "}\n");
    assertEquals(Codes.NOT_CONNECTED, code(r));
    assertTrue(r.cause().getMessage().contains("dropped guest-ping"), r.cause().getMessage());
    assertEquals(LinkState.SYNCING, link.state(), "and the link resyncs");
  }

  @Test
  void aSlowCommandAnsweredBeforeItsProbeSucceedsAndTheProbeAnswerIsConsumed() {
    ready();
    discards.clear();
    Future<JsonObject> r = link.execute("guest-fstrim", null, Deadline.in(600_000), true);
    long id = wire.lastJson().getLong("id");
    driver.advance(1000);
    long probeId = wire.lastJson().getJsonObject("arguments").getLong("id");
    driver.advance(2000);
    long probe2 = wire.lastJson().getJsonObject("arguments").getLong("id");
    assertTrue(probe2 != probeId, "probes repeat at doubling intervals");
    wire.agentSays("{\"return\":{\"paths\":[]},\"id\":" + id + "}\n");
    assertTrue(r.succeeded());
    Future<JsonObject> next = ping(3000);
    wire.agentSays("<FF>{\"return\":" + probeId + "}\n<FF>{\"return\":" + probe2 + "}\n");
    assertFalse(next.isComplete(), "probe answers complete nothing: " + (next.failed() ? next.cause() : next.result()));
    assertTrue(discards.isEmpty(), "and are not stale: " + discards);
    answerLast("{}");
    assertTrue(next.succeeded());
  }

  @Test
  void commandsAnsweredInTimeShareOneProbeTimerAndALaterOneIsStillProbedOnTime() {
    ready();
    int before = driver.timersSet;
    for (int i = 0; i < 100; i++) {
      Future<JsonObject> r = ping(3000);
      driver.advance(5);
      answerLast("{}");
      assertTrue(r.succeeded());
    }
    // the probe timer, and the deadline timer re-armed when it fired for nothing
    assertTrue(driver.timersSet - before <= 3, "timers set: " + (driver.timersSet - before));
    Future<JsonObject> lost = ping(10_000);
    driver.advance(999);
    assertTrue(wire.lastJson().getString("execute").equals("guest-ping"), "not probed early");
    driver.advance(1);
    assertEquals("guest-sync-delimited", lastCommand(), "probed 1 s after it was written");
    assertFalse(lost.isComplete());
  }

  // ---- commands without success reply ----------------------------------------------------------

  @Test
  void anErrorBeforeTheProbeAnswerFailsANoResponseCommand() {
    ready();
    Future<JsonObject> r = link.execute("guest-suspend-disk", null, Deadline.in(10_000), false);
    String command = wire.texts().get(wire.texts().size() - 2);
    assertTrue(command.contains("guest-suspend-disk"), command);
    long id = new JsonObject(command).getLong("id");
    driver.advance(700);
    assertFalse(r.isComplete(), "a late error is still waited for");
    wire.agentSays("{\"error\":{\"class\":\"GenericError\",\"desc\":\"child process has failed"
        + " to suspend\"},\"id\":" + id + "}\n");
    assertEquals(Codes.AGENT_ERROR, code(r));
  }

  @Test
  void theProbeAnsweredWithoutErrorMeansSent() {
    ready();
    Future<JsonObject> r = link.execute("guest-shutdown", null, Deadline.in(10_000), false);
    long probeId = wire.lastJson().getJsonObject("arguments").getLong("id");
    wire.agentSays("<FF>{\"return\":" + probeId + "}\n");
    assertEquals(new JsonObject().put("sent", true), r.result());
    assertEquals(LinkState.READY, link.state());
  }

  @Test
  void silenceUntilTheWindowEndsMeansSentAndTheLinkResyncs() {
    ready();
    Future<JsonObject> r = link.execute("guest-suspend-ram", null, Deadline.in(10_000), false);
    driver.advance(2999);
    assertFalse(r.isComplete());
    driver.advance(1);
    assertEquals(new JsonObject().put("sent", true), r.result());
    assertEquals(LinkState.SYNCING, link.state());
  }

  @Test
  void eofAfterANoResponseCommandMeansSent() {
    ready();
    Future<JsonObject> r = link.execute("guest-shutdown", null, Deadline.in(10_000), false);
    wire.eof();
    assertEquals(new JsonObject().put("sent", true), r.result());
  }

  // ---- freeze at sync ---------------------------------------------------------------------------

  @Test
  void theInfoOfAFrozenAgentNeverReplacesItsCapabilities() {
    ready();
    assertEquals(INFO, link.agentInfo());
    link.resync(Deadline.in(3000));
    answerSync(true);
    answerLast("\"frozen\"");
    answerLast(FROZEN_INFO.encode());
    assertEquals(INFO, link.agentInfo(), "the disabled-while-frozen list is not kept");
    assertEquals(List.of("thawed", "frozen"), refreshed);
  }

  @Test
  void aGuestFoundFrozenAtConnectHasNoCapabilitiesUntilThawed() {
    connectAndSync(true);
    answerLast("\"frozen\"");
    answerLast(FROZEN_INFO.encode());
    assertNull(link.agentInfo());
    assertEquals(List.of("frozen"), refreshed);
    link.refresh();
    answerLast("\"thawed\"");
    answerLast(INFO.encode());
    assertEquals(INFO, link.agentInfo());
  }

  // ---- deadlines --------------------------------------------------------------------------------

  @Test
  void aCommandThatIsNotAnsweredFailsAtItsDeadlineAndTheLinkResyncs() {
    ready();
    Future<JsonObject> r = link.execute("guest-ping", null, Deadline.in(2500), true);
    driver.advance(2499);
    assertFalse(r.isComplete());
    driver.advance(2);
    assertEquals(Codes.TIMEOUT, code(r));
    assertEquals(LinkState.SYNCING, link.state());
  }

  @Test
  void withoutAHypervisorViewWakeUpIsUnsupported() {
    ready();
    assertEquals(Codes.UNSUPPORTED, code(link.wakeup(Deadline.in(1000))));
  }

  @Test
  void aSharedLinkReleasesTheSocketWhenIdleAndReconnectsAndResyncsForTheNextCommand() {
    link = new GuestLink(driver, GuestTarget.unix("vm", "/nowhere").sharedAfterIdle(500), OPTIONS,
        LinkObserver.NONE);
    ready();
    FakeWire first = wire;
    driver.advance(499);
    assertFalse(first.closed);
    driver.advance(1);
    assertTrue(first.closed, "released after 500 ms idle");
    assertTrue(link.released());
    assertEquals(LinkState.READY, link.state(), "still takes commands");
    assertEquals(1, driver.connects);
    Future<JsonObject> r = ping(3000);
    assertEquals(2, driver.connects, "a command reconnects");
    wire = driver.accept();
    answerSync(true);
    answerLast("\"thawed\"");
    answerLast(INFO.encode());
    answerLast("{}");
    assertTrue(r.succeeded());
    assertFalse(link.released());
  }

  @Test
  void stopFailsEverythingWithNotConnected() {
    ready();
    Future<JsonObject> a = ping(3000);
    Future<JsonObject> b = ping(3000);
    link.stop();
    assertEquals(Codes.NOT_CONNECTED, code(a));
    assertEquals(Codes.NOT_CONNECTED, code(b));
    assertTrue(wire.closed);
    assertInstanceOf(GatewayFailure.class, ping(3000).cause());
  }
}
