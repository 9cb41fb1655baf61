package io.qgagateway.e2e;

import io.qgagateway.Gateway;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP API of API.md section 4 on a whole gateway with a simulated agent on a Unix socket:
 * status codes and error bodies, guests, health, metrics, and the bearer token.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HttpApiTest {

  private static final String GUEST = "sim-1";

  @TempDir
  static Path dir;

  private static Vertx vertx;
  private static Gateway gateway;
  private static Http http;

  @BeforeAll
  static void start() throws Exception {
    vertx = TestVertx.create();
    String socket = dir.resolve("sim-1.sock").toString();
    new SimulatedAgent(vertx, "sim-host",
        SimulatedAgent.Options.DEFAULTS.withBlocked("guest-fstrim"))
        .listenUnix(socket).await(10, TimeUnit.SECONDS);
    JsonObject config = RealAgentFixture.baseConfig(new JsonArray().add(new JsonObject()
            .put("name", GUEST).put("socket", socket)))
        // the simulated guest's files are in memory: opening one is harmless
        .put("policy", new JsonObject().put("allow", new JsonArray().add("guest-file-open")));
    gateway = RealAgentFixture.startGateway(vertx, config);
    Bus.awaitReady(vertx, GUEST, 15_000);
    http = new Http(vertx, gateway.httpPort());
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (http != null) {
        http.close();
      }
      if (gateway != null) {
        gateway.stop().await(30, TimeUnit.SECONDS);
      }
    } finally {
      if (vertx != null) {
        vertx.close().await(10, TimeUnit.SECONDS);
      }
    }
  }

  private static String command(String guest, String command) {
    return "/v1/guests/" + guest + "/commands/" + command;
  }

  /** Asserts the contract's error body and returns its "error" object. */
  private static JsonObject error(int status, Http.Response response) {
    assertEquals(status, response.status(), response.body());
    assertTrue(response.headers().get("content-type").startsWith("application/json"));
    assertFalse(response.body().isEmpty(), "empty body; headers " + response.headers());
    JsonObject error = response.json().getJsonObject("error");
    assertNotNull(error, response.body());
    assertEquals(status, error.getInteger("code"), response.body());
    assertFalse(error.getString("message", "").isEmpty(), response.body());
    return error;
  }

  @Test
  void ping() throws Exception {
    Http.Response response = http.post(command(GUEST, "ping"), null);
    assertEquals(200, response.status(), response.body());
    assertEquals(new JsonObject().put("return", new JsonObject()), response.json());
    // an empty arguments object is the same request
    assertEquals(200, http.post(command(GUEST, "ping"), "{}").status());
  }

  @Test
  void agentReplyPassesThrough() throws Exception {
    Http.Response response = http.post(command(GUEST, "get-host-name"), null);
    assertEquals(200, response.status(), response.body());
    assertEquals("sim-host", response.json().getJsonObject("return").getString("host-name"));
  }

  @Test
  void unknownGuestIs404() throws Exception {
    JsonObject error = error(404, http.post(command("no-such-guest", "ping"), null));
    assertFalse(error.containsKey("class"), error.encode());
  }

  @Test
  void agentErrorCarriesItsClass() throws Exception {
    JsonObject error = error(502, http.post(command(GUEST, "file-open"),
        "{\"path\": \"/no/such/file\", \"mode\": \"r\"}"));
    assertEquals("GenericError", error.getString("class"), error.encode());
    assertTrue(error.getString("message").startsWith("GenericError: "), error.encode());
  }

  @Test
  void disabledCommandIs501WithItsClass() throws Exception {
    JsonObject error = error(501, http.post(command(GUEST, "fstrim"), null));
    assertEquals("CommandNotFound", error.getString("class"), error.encode());
  }

  @Test
  void badBodiesAre400() throws Exception {
    JsonObject notJson = error(400, http.post(command(GUEST, "ping"), "{not json"));
    assertFalse(notJson.containsKey("class"));
    error(400, http.post(command(GUEST, "ping"), "[1, 2]"));
    // arguments are checked against the command's parameters
    error(400, http.post(command(GUEST, "ping"), "{\"bogus\": 1}"));
    error(400, http.post(command(GUEST, "fstrim"), "{\"minimum\": \"lots\"}"));
    // strict JSON only: Vert.x's own codec would take the comments
    error(400, http.post(command(GUEST, "fstrim"), "{\"minimum\": 0 /* trim it all */}"));
    error(400, http.post(command(GUEST, "fstrim"), "// all\n{\"minimum\": 0}"));
    // the same without the comment passes the checks (and meets the host agent's block: 501)
    assertEquals(501, http.post(command(GUEST, "fstrim"), "{\"minimum\": 0}").status());
  }

  /** A path with a dot segment would be normalised to another guest's: it is refused. */
  @Test
  void dotSegmentsAreRefusedNotNormalised() throws Exception {
    error(400, http.post("/v1/guests/other/../" + GUEST + "/commands/ping", null));
    error(400, http.post("/v1/guests/" + GUEST + "/./commands/ping", null));
    error(400, http.post("/v1/guests/x/%2E%2e/" + GUEST + "/commands/ping", null));
    error(400, http.get("/v1/guests/" + GUEST + "/.."));
    assertEquals(200, http.post(command(GUEST, "ping"), null).status());
  }

  @Test
  void badTimeoutIs400() throws Exception {
    error(400, http.post(command(GUEST, "ping") + "?timeoutMs=abc", null));
    error(400, http.post(command(GUEST, "ping") + "?timeoutMs=0", null));
    assertEquals(200, http.post(command(GUEST, "ping") + "?timeoutMs=2000", null).status());
  }

  @Test
  void unknownCommandIs400() throws Exception {
    error(400, http.post(command(GUEST, "frobnicate"), null));
    // guest-sync is the gateway's own, not exposed
    error(400, http.post(command(GUEST, "sync-delimited"), null));
  }

  @Test
  void guests() throws Exception {
    Http.Response all = http.get("/v1/guests");
    assertEquals(200, all.status(), all.body());
    JsonArray guests = all.json().getJsonArray("guests");
    assertEquals(1, guests.size(), all.body());
    assertEquals(GUEST, guests.getJsonObject(0).getString("name"));
    assertEquals("ready", guests.getJsonObject(0).getString("state"));

    Http.Response one = http.get("/v1/guests/" + GUEST);
    assertEquals(200, one.status(), one.body());
    JsonObject entry = one.json().getJsonArray("guests").getJsonObject(0);
    assertEquals(GUEST, entry.getString("name"));
    assertEquals(SimulatedAgent.VERSION, entry.getJsonObject("agent").getString("version"));

    error(404, http.get("/v1/guests/no-such-guest"));
  }

  @Test
  void health() throws Exception {
    Http.Response live = http.get("/health/live");
    assertEquals(200, live.status(), live.body());
    assertEquals("UP", live.json().getString("status"));
    Http.Response ready = http.get("/health/ready");
    assertEquals(200, ready.status(), ready.body());
    assertEquals("UP", ready.json().getString("status"), ready.body());
    assertNotNull(ready.json().getJsonObject("checks"), ready.body());
  }

  @Test
  void metricsRecordCommands() throws Exception {
    assertEquals(200, http.post(command(GUEST, "ping"), null).status());
    Http.Response metrics = http.get("/metrics");
    assertEquals(200, metrics.status());
    assertTrue(metrics.headers().get("content-type").startsWith("text/plain"));
    assertTrue(metrics.body().contains("qga_command_duration_seconds"), metrics.body());
  }

  /** A gateway of its own (a token is read at start), on a Vert.x of its own. */
  @Test
  void tokenGuardsV1Only() throws Exception {
    Vertx other = TestVertx.create();
    try {
      String socket = dir.resolve("sim-token.sock").toString();
      new SimulatedAgent(other, "sim-token").listenUnix(socket).await(10, TimeUnit.SECONDS);
      JsonObject config = RealAgentFixture.baseConfig(new JsonArray().add(new JsonObject()
          .put("name", GUEST).put("socket", socket)));
      config.getJsonObject("http").put("token", "secret");
      Gateway guarded = RealAgentFixture.startGateway(other, config);
      try (Http client = new Http(other, guarded.httpPort())) {
        Http.Response missing = client.get("/v1/guests");
        error(401, missing);
        assertEquals("Bearer", missing.headers().get("WWW-Authenticate"));
        error(401, client.get("/v1/guests", "Authorization", "Bearer wrong"));
        error(401, client.get("/v1/guests", "Authorization", "secret"));
        error(401, client.get("/v1/guests", "Authorization", "Basic secret"));
        // the scheme is case-insensitive (RFC 7235), the token is not
        assertEquals(200, client.get("/v1/guests", "Authorization", "bearer secret").status());
        assertEquals(200, client.get("/v1/guests", "Authorization", "BEARER secret").status());
        error(401, client.get("/v1/guests", "Authorization", "Bearer SECRET"));
        error(401, client.post(command(GUEST, "ping"), null));

        Http.Response allowed = client.get("/v1/guests", "Authorization", "Bearer secret");
        assertEquals(200, allowed.status(), allowed.body());
        Bus.awaitReady(other, GUEST, 15_000);
        assertEquals(200, client.post(command(GUEST, "ping"), null,
            "Authorization", "Bearer secret").status());

        assertEquals(200, client.get("/metrics").status());
        assertEquals(200, client.get("/health/live").status());
        assertEquals(200, client.get("/health/ready").status());
      } finally {
        guarded.stop().await(30, TimeUnit.SECONDS);
      }
    } finally {
      other.close().await(10, TimeUnit.SECONDS);
    }
  }
}
