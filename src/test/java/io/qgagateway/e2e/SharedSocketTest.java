package io.qgagateway.e2e;

import io.qgagateway.config.GatewayConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A guest shared politely ({@code releaseIdleMs}) with a tool that connects to the real qemu-ga
 * for one command and leaves: the agent serves one client at a time, so the tool is served only
 * because the gateway let go of the idle socket; the gateway's next command reconnects and
 * resyncs.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SharedSocketTest {

  private static final String GUEST = RealAgentFixture.GUEST;

  @RegisterExtension
  static final RealAgentExtension AGENT = new RealAgentExtension(false, new JsonObject());

  @Test
  void anIdleSocketIsReleasedForAnotherClientAndTakenBackOnDemand() throws Exception {
    String socket = AGENT.fixture().agent().socket().toString();
    AGENT.fixture().gateway().reconfigure(GatewayConfig.parse(RealAgentFixture.baseConfig(
        new JsonArray().add(new JsonObject().put("name", GUEST).put("socket", socket)
            .put("releaseIdleMs", 300)))));
    // the reconfiguration redeploys the guest's link: wait for the shared one to go idle
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    Object last = null;
    while (!(last instanceof JsonObject entry && entry.getBoolean("released", false))) {
      assertTrue(System.nanoTime() < deadline, "not released: " + last);
      Thread.sleep(50);
      try {
        last = AGENT.fixture().describe();
      } catch (AssertionError e) {
        last = e.getMessage();
      }
    }
    assertEquals("ready", AGENT.fixture().describe().getString("state"));

    // another tool: one command on its own connection, answered by the real agent
    try (SocketChannel tool = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      tool.write(ByteBuffer.wrap("{\"execute\":\"guest-ping\"}\n".getBytes(StandardCharsets.UTF_8)));
      ByteBuffer in = ByteBuffer.allocate(256);
      StringBuilder reply = new StringBuilder();
      tool.configureBlocking(true);
      while (!reply.toString().contains("\n")) {
        in.clear();
        assertTrue(tool.read(in) > 0, "the agent answered the tool: " + reply);
        reply.append(StandardCharsets.UTF_8.decode(in.flip()));
      }
      assertEquals("{\"return\": {}}", reply.toString().trim());
    }

    JsonObject osinfo = Bus.ok(AGENT.vertx(), "agent.get-osinfo",
        new JsonObject().put("guest", GUEST));
    assertTrue(osinfo.getJsonObject("return").containsKey("id"), osinfo.encode());
  }
}
