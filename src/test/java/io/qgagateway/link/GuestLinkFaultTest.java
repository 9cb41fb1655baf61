package io.qgagateway.link;

import io.qgagateway.api.Codes;
import io.qgagateway.testing.FaultyAgent;
import io.qgagateway.testing.FaultyAgent.Fault;
import io.qgagateway.testing.LinkHarness;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.qgagateway.testing.LinkHarness.assertFails;
import static io.qgagateway.testing.LinkHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each fault of {@link FaultyAgent} against a real {@link GuestLink}: the affected request fails
 * with the contract's code and the next request still gets its own reply (guest-sync ids differ
 * per request, so a misdelivered reply would show).
 */
@ExtendWith(VertxExtension.class)
class GuestLinkFaultTest {

  private static final long TIMEOUT = 300;

  @TempDir
  Path dir;

  /** FAST with probes after 200 ms. */
  private static final LinkOptions PROBING = new LinkOptions(64 * 1024, 8, 300, 2, 50, 400, 150,
      2000, 200);

  private Vertx vertx;
  private FaultyAgent agent;
  private LinkHarness h;
  private String socket;

  @BeforeEach
  void setUp(Vertx vertx) {
    this.vertx = vertx;
    socket = dir.resolve("qga.sock").toString();
    agent = await(new FaultyAgent(vertx, "vm-faulty").listenUnix(socket), Duration.ofSeconds(5));
    h = new LinkHarness(vertx, GuestTarget.unix("vm-faulty", socket), LinkHarness.FAST);
  }

  @AfterEach
  void tearDown() {
    h.stop();
    await(agent.close(), Duration.ofSeconds(5));
  }

  @Test
  void byteAtATimeReplyIsReassembled() {
    h.startReady();
    agent.next(1, Fault.BYTE_AT_A_TIME);
    h.assertSyncs(101);
    h.assertSyncs(102);
    assertEquals(1, agent.injected(Fault.BYTE_AT_A_TIME));
  }

  @Test
  void garbageBeforeReplyIsProtocolError() {
    h.startReady();
    agent.next(1, Fault.GARBAGE_BEFORE);
    assertFails(h.sync(201, TIMEOUT), Codes.AGENT_ERROR, "ProtocolError");
    h.assertSyncs(202);
    assertTrue(h.resyncs.contains(ResyncReason.PROTOCOL_ERROR), h.resyncs.toString());
    assertTrue(h.discarded(DiscardKind.GARBAGE) >= 1);
  }

  @Test
  void garbageInsideReplyIsProtocolError() {
    h.startReady();
    agent.next(1, Fault.GARBAGE_INSIDE);
    assertFails(h.sync(301, TIMEOUT), Codes.AGENT_ERROR, "ProtocolError");
    h.assertSyncs(302);
    assertTrue(h.discarded(DiscardKind.GARBAGE) >= 1);
  }

  @Test
  void hangTimesOutAndResyncs() {
    h.startReady();
    agent.next(1, Fault.HANG);
    long start = System.nanoTime();
    assertFails(h.sync(401, TIMEOUT), Codes.TIMEOUT, null);
    assertTrue(System.nanoTime() - start >= TIMEOUT * 1_000_000 * 9 / 10, "failed too early");
    h.assertSyncs(402);
    assertTrue(h.resyncs.contains(ResyncReason.TIMEOUT), h.resyncs.toString());
  }

  /** With probes on, a request the agent dropped fails at the first probe, not the deadline. */
  @Test
  void aDroppedRequestFailsAtTheProbeNotTheDeadline() {
    h.stop();
    h = new LinkHarness(vertx, GuestTarget.unix("vm-faulty", socket), PROBING).startReady();
    agent.next(1, Fault.HANG);
    long start = System.nanoTime();
    assertFails(h.sync(451, 5_000), Codes.NOT_CONNECTED, "dropped guest-sync");
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertTrue(ms < 1_000, "failed after " + ms + " ms, not at the 5 s deadline");
    h.assertSyncs(452);
  }

  /** An agent that split a request answers several times; none of it reaches a caller. */
  @Test
  void aSplitRequestsManyAnswersGoToNobody() {
    h.startReady();
    agent.next(1, Fault.SPLIT_REQUEST);
    assertFails(h.sync(461, TIMEOUT), Codes.AGENT_ERROR, "token count limit");
    h.assertSyncs(462);
    h.assertSyncs(463);
    assertTrue(h.resyncs.contains(ResyncReason.PROTOCOL_ERROR), h.resyncs.toString());
  }

  @Test
  void aDuplicateReplyIsDroppedAndTheLinkResyncs() {
    h.startReady();
    agent.next(1, Fault.DUPLICATE_REPLY);
    h.assertSyncs(471);
    h.assertSyncs(472);
    assertTrue(h.discarded(DiscardKind.STALE_REPLY) >= 1, "the second copy was dropped");
  }

  @Test
  void lateReplyIsNotHandedToTheNextRequest() {
    h.startReady();
    agent.lateDelayMs(TIMEOUT + 200).next(1, Fault.LATE);
    assertFails(h.sync(501, TIMEOUT), Codes.TIMEOUT, null);
    // sent at once: it is queued while the link resyncs behind the late reply
    h.assertSyncs(502);
    assertTrue(h.discarded(DiscardKind.STALE_REPLY) >= 1, "the late reply was dropped");
    assertEquals(1, h.connects.get(), "resynced on the same connection: " + h.resyncs);
  }

  @Test
  void oversizedReplyIsProtocolError() {
    h.startReady();
    agent.oversizedBytes(LinkHarness.FAST.maxReplyBytes() * 2).next(1, Fault.OVERSIZED);
    assertFails(h.sync(601, TIMEOUT * 3), Codes.AGENT_ERROR, "ProtocolError");
    h.assertSyncs(602);
    assertTrue(h.discarded(DiscardKind.OVERSIZED) >= 1);
  }

  @Test
  void closeMidReplyIsNotConnectedThenReconnects() {
    h.startReady();
    agent.next(1, Fault.CLOSE_MID_REPLY);
    assertFails(h.sync(701, TIMEOUT), Codes.NOT_CONNECTED, null);
    h.assertSyncs(702);
    assertEquals(2, h.connects.get());
  }

  @Test
  void silentAgentTimesOutThenLinkRedials() {
    h.startReady();
    agent.next(1, Fault.SILENT);
    assertFails(h.sync(801, TIMEOUT), Codes.TIMEOUT, null);
    // the resync gets no answer either; after syncAttempts the link redials and recovers
    h.assertSyncs(802);
    assertEquals(2, h.connects.get());
  }

  @Test
  void noResponseCommandIsSentThenResyncs() {
    h.startReady();
    JsonObject sent = await(h.execute("guest-shutdown", null, 2000, false), Duration.ofSeconds(5));
    assertEquals(new JsonObject().put("sent", true), sent);
    h.assertSyncs(901);
    assertTrue(h.resyncs.contains(ResyncReason.AFTER_NO_RESPONSE), h.resyncs.toString());
  }

  /**
   * A VM powers off about 0.5 s after guest-shutdown, and its chardev socket closes when QEMU
   * exits, possibly within the grace window: that EOF, with no error before it, is the success.
   */
  @Test
  void noResponseCommandFollowedByEofIsSent() {
    h.startReady();
    agent.onCommand("guest-shutdown", 1, Fault.CLOSE_MID_REPLY);
    JsonObject sent = await(h.execute("guest-shutdown", null, 2000, false), Duration.ofSeconds(5));
    assertEquals(new JsonObject().put("sent", true), sent);
    h.assertSyncs(1101);
    assertEquals(2, h.connects.get());
  }

  @Test
  void noResponseCommandAnsweredWithErrorFails() {
    h.startReady();
    agent.onCommand("guest-suspend-ram", 1, Fault.ERROR_FOR_NO_RESPONSE);
    assertFails(h.execute("guest-suspend-ram", null, 2000, false), Codes.AGENT_ERROR,
        "GenericError: injected failure");
    h.assertSyncs(1001);
  }

  /**
   * A caller that sends its next command from the completion handler of a failed one (the usual
   * Future chaining) must not get it written ahead of the resync, where its reply would be
   * discarded as stale and the command time out.
   */
  @Test
  void commandChainedOnAFailureWaitsForTheResync() {
    h.startReady();
    agent.next(1, Fault.HANG);
    Future<JsonObject> next = h.sync(1501, TIMEOUT)
        .recover(timeout -> h.link.execute("guest-sync", new JsonObject().put("id", 1502), 2000, true));
    assertEquals(1502L, ((Number) await(next, Duration.ofSeconds(5)).getValue("return")).longValue());
    Future<JsonObject> afterShutdown = h.execute("guest-shutdown", null, 2000, false)
        .compose(sent -> h.link.execute("guest-sync", new JsonObject().put("id", 1503), 2000, true));
    assertEquals(1503L, ((Number) await(afterShutdown, Duration.ofSeconds(5)).getValue("return"))
        .longValue());
    assertEquals(0, h.discarded(DiscardKind.STALE_REPLY), "no reply was thrown away");
  }

  /** One timer serves all of a link's deadlines: a short one behind a long one fires on time. */
  @Test
  void queuedRequestWithAnEarlierDeadlineTimesOutOnTime() {
    h.startReady();
    agent.next(1, Fault.HANG);
    h.sync(1300, 5_000); // in flight, never answered, with a much later deadline
    long start = System.nanoTime();
    assertFails(h.sync(1301, TIMEOUT), Codes.TIMEOUT, "still queued");
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertTrue(ms >= TIMEOUT * 9 / 10 && ms < 2_000, "failed after " + ms + " ms");
  }

  @Test
  void fullQueueIsBusy() {
    h.startReady();
    agent.next(1, Fault.HANG);
    List<Future<JsonObject>> queued = new ArrayList<>();
    queued.add(h.sync(1100, TIMEOUT)); // in flight, never answered
    for (int i = 1; i <= LinkHarness.FAST.queueSize(); i++) {
      queued.add(h.sync(1100 + i, 5000));
    }
    assertFails(h.sync(1199, 5000), Codes.BUSY, "full");
    assertFails(queued.get(0), Codes.TIMEOUT, null);
    for (int i = 1; i < queued.size(); i++) {
      assertEquals(1100L + i, ((Number) await(queued.get(i), Duration.ofSeconds(5))
          .getValue("return")).longValue());
    }
  }

  @Test
  void agentDownFailsWithNotConnectedAtTheTimeout() {
    LinkHarness down = new LinkHarness(vertx,
        GuestTarget.unix("vm-down", dir.resolve("nobody.sock").toString()), LinkHarness.FAST);
    down.start();
    try {
      long start = System.nanoTime();
      assertFails(down.sync(1, 500), Codes.NOT_CONNECTED, "not connected");
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertTrue(ms >= 450 && ms < 2000, "failed after " + ms + " ms");
    } finally {
      down.stop();
    }
  }

  @Test
  void reconnectsWithBackoffAfterAgentRestart() throws Exception {
    h.startReady();
    h.assertSyncs(1201);
    await(agent.close(), Duration.ofSeconds(5));
    LinkHarness.waitUntil(() -> h.link.state() != LinkState.READY, Duration.ofSeconds(5),
        "link noticing the agent is gone");
    // a request while the agent is down waits, then fails as not connected
    assertFails(h.sync(1202, 300), Codes.NOT_CONNECTED, null);
    Files.deleteIfExists(Path.of(socket));
    agent = await(new FaultyAgent(vertx, "vm-faulty").listenUnix(socket), Duration.ofSeconds(5));
    h.assertSyncs(1203);
    assertEquals(2, h.connects.get());
    assertEquals(2, h.resyncs.stream().filter(r -> r == ResyncReason.CONNECT).count());
  }

  @Test
  void staleRepliesBeforeSyncAreDiscarded() {
    h.startReady();
    agent.queueStaleReturn("left over").queueStaleReturn(42).queueStaleSync(7);
    int strayBefore = h.discarded(DiscardKind.STRAY_ERROR);
    JsonObject synced = await(h.resync(2000), Duration.ofSeconds(5));
    assertTrue(synced.getJsonObject("return").getLong("rttMicros") >= 0);
    assertEquals(3, h.discarded(DiscardKind.STALE_REPLY), "two returns and the old sync");
    assertEquals(strayBefore + 1, h.discarded(DiscardKind.STRAY_ERROR), "answer to the 0xFF");
    assertTrue(h.resyncs.contains(ResyncReason.MANUAL), h.resyncs.toString());
    h.assertSyncs(1301);
  }

  @Test
  void staleRepliesOnConnectAreDiscarded() {
    agent.queueStaleReturn("from an earlier client").queueStaleSync(12345);
    h.startReady();
    assertEquals(2, h.discarded(DiscardKind.STALE_REPLY));
    assertEquals(List.of(ResyncReason.CONNECT), h.resyncs);
    h.assertSyncs(1401);
  }
}
