package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Base64;

import static io.qgagateway.testing.GatewayHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** files.maxBytes bounds both directions; a put over it never reaches the guest. */
class FileLimitsTest {

  @TempDir
  Path dir;

  private Vertx vertx;
  private GatewayHarness h;
  private SimulatedAgent agent;

  @BeforeEach
  void start() {
    vertx = TestVertx.create();
    h = new GatewayHarness(vertx, dir);
    agent = h.agent("vm", SimulatedAgent.Options.DEFAULTS);
    h.start(h.config("vm")
        .put("files", new JsonObject().put("maxBytes", 1024))
        .put("policy", new JsonObject().put("allow", new JsonArray()
            .add("file-get").add("file-put"))), new SimpleMeterRegistry());
    h.awaitReady("vm");
  }

  @AfterEach
  void stop() {
    h.close();
    await(vertx.close());
  }

  @Test
  void bothDirectionsAreBounded() {
    assertEquals(1024, put("/small", new byte[1024]).getJsonObject("return").getInteger("size"));

    ReplyException tooBig = h.failure("file-put", request("/big",
        new JsonObject().put("content-b64", b64(new byte[1025]))));
    assertEquals(Codes.BAD_REQUEST, tooBig.failureCode());
    assertTrue(tooBig.getMessage().startsWith("arguments.content-b64: 1025 bytes"),
        tooBig.getMessage());
    assertFalse(agent.received().stream().anyMatch(r -> r.encode().contains("/big")),
        "the oversized put never reached the guest");

    agent.context().runOnContext(v ->
        agent.guest().putFile("/large", new byte[2048]));
    GatewayHarness.waitFor("file placed", () -> agent.guest().file("/large") != null);
    // asking for more than the cap does not lift it
    ReplyException capped = h.failure("file-get", request("/large",
        new JsonObject().put("maxBytes", 1_000_000_000)));
    assertEquals(Codes.BAD_REQUEST, capped.failureCode());
    assertTrue(capped.getMessage().contains("larger than maxBytes (1024)"), capped.getMessage());
    long opens = agent.received().stream()
        .filter(r -> "guest-file-open".equals(r.getString("execute"))).count();
    long closes = agent.received().stream()
        .filter(r -> "guest-file-close".equals(r.getString("execute"))).count();
    assertEquals(opens, closes, "every handle closed, the failed read's too");
  }

  private JsonObject put(String path, byte[] content) {
    return h.call("file-put", request(path, new JsonObject().put("content-b64", b64(content))));
  }

  private static JsonObject request(String path, JsonObject arguments) {
    return new JsonObject().put("guest", "vm").put("arguments", arguments.put("path", path));
  }

  private static String b64(byte[] bytes) {
    return Base64.getEncoder().encodeToString(bytes);
  }
}
