package io.qgagateway.e2e;

import io.qgagateway.Gateway;
import io.qgagateway.api.Addresses;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.BridgeFrames;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetSocket;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TCP event-bus bridge (API.md section 5) with a raw socket speaking its framing (4-byte
 * big-endian length + JSON): public addresses in, agent.events out, internal addresses and
 * sending to agent.events refused; every err frame with a code of the contract; a publish runs
 * nothing.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BridgeTest {

  private static final String GUEST = "sim-1";
  private static final long FRAME_WAIT_MS = 10_000;

  @TempDir
  static Path dir;

  private static Vertx vertx;
  private static Gateway gateway;
  private static int bridgePort;
  private static SimulatedAgent agent;

  private NetSocket socket;
  private BlockingQueue<JsonObject> frames;

  /** The Vert.x is the extension's: it closes it after {@link #stop}. */
  @BeforeAll
  static void start(Vertx vx) throws Exception {
    vertx = vx;
    String sock = dir.resolve("sim-1.sock").toString();
    agent = new SimulatedAgent(vertx, "sim-host");
    agent.listenUnix(sock).await(10, TimeUnit.SECONDS);
    // the gateway does not expose the bridge's bound port, so choose a free one up front
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      bridgePort = free.getLocalPort();
    }
    JsonObject config = RealAgentFixture.baseConfig(new JsonArray().add(new JsonObject()
            .put("name", GUEST).put("socket", sock)))
        .put("bridge", new JsonObject().put("enabled", true).put("host", "127.0.0.1")
            .put("port", bridgePort));
    gateway = RealAgentFixture.startGateway(vertx, config);
    Bus.awaitReady(vertx, GUEST, 15_000);
  }

  @AfterAll
  static void stop() throws Exception {
    if (gateway != null) {
      gateway.stop().await(30, TimeUnit.SECONDS);
    }
  }

  @BeforeEach
  void connect() throws Exception {
    socket = vertx.createNetClient().connect(bridgePort, "127.0.0.1")
        .await(10, TimeUnit.SECONDS);
    frames = BridgeFrames.reader(socket);
  }

  @AfterEach
  void disconnect() throws Exception {
    if (socket != null) {
      socket.close().await(10, TimeUnit.SECONDS);
    }
  }

  private void write(JsonObject frame) throws Exception {
    socket.write(BridgeFrames.frame(frame))
        .await(10, TimeUnit.SECONDS);
  }

  private JsonObject next() throws InterruptedException {
    JsonObject frame = frames.poll(FRAME_WAIT_MS, TimeUnit.MILLISECONDS);
    assertNotNull(frame, "no frame from the bridge within " + FRAME_WAIT_MS + " ms");
    return frame;
  }

  private static JsonObject send(String address, JsonObject body, String replyAddress) {
    return new JsonObject().put("type", "send").put("address", address).put("body", body)
        .put("replyAddress", replyAddress);
  }

  @Test
  void pingRepliesToTheReplyAddress() throws Exception {
    write(send("agent.ping", new JsonObject().put("guest", GUEST), "r1"));
    JsonObject reply = next();
    assertEquals("message", reply.getString("type"), reply.encode());
    assertEquals("r1", reply.getString("address"), reply.encode());
    assertEquals(new JsonObject().put("return", new JsonObject()), reply.getJsonObject("body"));
  }

  @Test
  void unknownGuestIsAnErrFrameWith404() throws Exception {
    write(send("agent.ping", new JsonObject().put("guest", "no-such-guest"), "r2"));
    JsonObject err = next();
    assertEquals("err", err.getString("type"), err.encode());
    assertEquals(404, err.getInteger("failureCode"), err.encode());
    assertNotNull(err.getString("message"), err.encode());
  }

  @Test
  void badRequestIsAnErrFrameWith400() throws Exception {
    write(send("agent.ping", new JsonObject(), "r3"));
    JsonObject err = next();
    assertEquals("err", err.getString("type"), err.encode());
    assertEquals(400, err.getInteger("failureCode"), err.encode());
  }

  @Test
  void internalLinkAddressIsRefused() throws Exception {
    String internal = Addresses.link(gateway.node().id(), GUEST);
    write(send(internal, new JsonObject().put("guest", GUEST), "r4"));
    assertAccessDenied(next());
    write(send("qga.link.x.y", new JsonObject().put("guest", GUEST), "r5"));
    assertAccessDenied(next());
    write(send("qga.fleet.node.x.describe", new JsonObject(), "r6"));
    assertAccessDenied(next());
    // the connection is still usable
    write(send("agent.ping", new JsonObject().put("guest", GUEST), "r7"));
    assertEquals("message", next().getString("type"));
  }

  @Test
  void sendingToEventsIsRefused() throws Exception {
    write(send(Addresses.EVENTS, new JsonObject().put("type", "connected").put("guest", GUEST),
        "r8"));
    assertAccessDenied(next());
    write(new JsonObject().put("type", "publish").put("address", Addresses.EVENTS)
        .put("body", new JsonObject().put("type", "connected")));
    assertAccessDenied(next());
  }

  @Test
  void registeringForEventsReceivesThem() throws Exception {
    write(new JsonObject().put("type", "register").put("address", Addresses.EVENTS));
    // registering for an internal address is not allowed
    write(new JsonObject().put("type", "register").put("address", "qga.link.x.y"));
    assertAccessDenied(next());
    // a manual sync publishes a "resynced" event
    write(send("agent.sync", new JsonObject().put("guest", GUEST), "r9"));
    JsonObject syncReply = null;
    JsonObject event = null;
    while (syncReply == null || event == null) {
      JsonObject frame = next();
      if ("r9".equals(frame.getString("address"))) {
        syncReply = frame;
      } else if (Addresses.EVENTS.equals(frame.getString("address"))
          && "resynced".equals(frame.getJsonObject("body").getString("type"))) {
        event = frame;
      }
    }
    assertEquals("message", syncReply.getString("type"), syncReply.encode());
    assertNotNull(syncReply.getJsonObject("body").getJsonObject("return")
        .getValue("rttMicros"), syncReply.encode());
    assertEquals("message", event.getString("type"), event.encode());
    assertEquals(GUEST, event.getJsonObject("body").getString("guest"), event.encode());
    assertEquals("manual", event.getJsonObject("body").getString("reason"), event.encode());
  }

  @Test
  void aPublishToAgentRunsNothingAndIsAnErrFrameWith400() throws Exception {
    int before = fstrims();
    write(new JsonObject().put("type", "publish").put("address", "agent.fstrim")
        .put("body", new JsonObject().put("guest", GUEST)));
    JsonObject err = next();
    assertEquals("err", err.getString("type"), err.encode());
    assertEquals(400, err.getInteger("failureCode"), err.encode());
    assertTrue(err.getString("message").contains("publish to agent.fstrim refused"),
        err.encode());
    // a send that expects no reply is refused the same way
    write(new JsonObject().put("type", "send").put("address", "agent.fstrim")
        .put("body", new JsonObject().put("guest", GUEST)));
    JsonObject noReply = next();
    assertEquals(400, noReply.getInteger("failureCode"), noReply.encode());
    // one request with a reply address: one fstrim
    write(send("agent.fstrim", new JsonObject().put("guest", GUEST), "r10"));
    JsonObject reply = next();
    assertEquals("message", reply.getString("type"), reply.encode());
    assertEquals("r10", reply.getString("address"), reply.encode());
    assertEquals(before + 1, fstrims(), "one request, one execution, the publish none");
  }

  @Test
  void anUnknownAgentAddressIsAnErrFrameWith400ForItsReplyAddress() throws Exception {
    write(send("agent.no-such-command", new JsonObject().put("guest", GUEST), "r11"));
    JsonObject err = next();
    assertEquals("err", err.getString("type"), err.encode());
    assertEquals("r11", err.getString("address"), err.encode());
    assertEquals(400, err.getInteger("failureCode"), err.encode());
    assertEquals("unknown command: no-such-command", err.getString("message"), err.encode());
  }

  @Test
  void malformedFramesAreErrFramesWith400AndTheConnectionStaysUsable() throws Exception {
    write(new JsonObject().put("type", "send").put("replyAddress", "r12"));
    JsonObject missing = next();
    assertEquals(400, missing.getInteger("failureCode"), missing.encode());
    assertEquals("missing_address", missing.getString("message"), missing.encode());
    write(new JsonObject().put("type", "shout").put("address", "agent.ping"));
    JsonObject unknown = next();
    assertEquals(400, unknown.getInteger("failureCode"), unknown.encode());
    assertEquals("unknown_type", unknown.getString("message"), unknown.encode());
    byte[] garbage = "[1,2".getBytes(StandardCharsets.UTF_8);
    socket.write(Buffer.buffer().appendInt(garbage.length).appendBytes(garbage))
        .await(10, TimeUnit.SECONDS);
    assertEquals(400, next().getInteger("failureCode"));
    write(new JsonObject().put("type", "ping"));
    assertEquals("pong", next().getString("type"));
    write(send("agent.ping", new JsonObject().put("guest", GUEST), "r13"));
    assertEquals("message", next().getString("type"));
  }

  private int fstrims() {
    return (int) agent.received().stream()
        .filter(r -> "guest-fstrim".equals(r.getString("execute"))).count();
  }

  private static void assertAccessDenied(JsonObject frame) {
    assertEquals("err", frame.getString("type"), frame.encode());
    assertEquals("access_denied", frame.getString("message"), frame.encode());
    assertEquals(403, frame.getInteger("failureCode"), frame.encode());
    assertNull(frame.getValue("body"), frame.encode());
  }
}
