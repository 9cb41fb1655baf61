package io.qgagateway.e2e;

import io.micrometer.core.instrument.Counter;
import io.qgagateway.Gateway;
import io.qgagateway.auth.Principal;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.BridgeFrames;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetSocket;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Who may do what, end to end over HTTP and the bridge, with the three principals of
 * docs/SECURITY.md (monitoring, backup, operator) plus a token from a token file: each refusal
 * is coded, names the principal, and sends nothing to the agent.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class AuthTest {

  static final String MONITORING = "mon-" + "a".repeat(40);
  static final String BACKUP = "bak-" + "b".repeat(40);
  static final String OPERATOR = "op-" + "c".repeat(40);
  static final String ROTATED = "rot-" + "d".repeat(40);

  @TempDir
  static Path dir;

  private static Vertx vertx;
  private static Gateway gateway;
  private static Http http;
  private static Path tokenFile;
  private static int bridgePort;
  private static final Map<String, SimulatedAgent> agents = new LinkedHashMap<>();

  @BeforeAll
  static void start(Vertx vx) throws Exception {
    vertx = vx;
    JsonArray guests = GatewayHarness.simulatedGuests(vertx, dir, agents, "db-1", "web-1");
    tokenFile = dir.resolve("tokens.yaml");
    Files.writeString(tokenFile, "tokens: []\n");
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      bridgePort = free.getLocalPort();
    }
    gateway = RealAgentFixture.startGateway(vertx, config(guests));
    Bus.awaitReady(vertx, "db-1", 15_000);
    Bus.awaitReady(vertx, "web-1", 15_000);
    http = new Http(vertx, gateway.httpPort());
  }

  /** The worked example of docs/SECURITY.md, plus the bridge, a token file and a rate limit. */
  static JsonObject config(JsonArray guests) {
    JsonArray everythingButCredentials = new JsonArray(List.of("read", "filesystem", "power",
        "time", "exec", "file-read", "file-write", "hardware", "passthrough"));
    return RealAgentFixture.baseConfig(guests)
        .put("bridge", new JsonObject().put("enabled", true).put("host", "127.0.0.1")
            .put("port", bridgePort))
        // the ceiling lets the restricted commands through: the grants decide
        .put("policy", new JsonObject().put("allow", new JsonArray(List.of("guest-exec*",
            "guest-file-*", "run", "file-get", "file-put", "command",
            "guest-set-user-password"))))
        .put("auth", new JsonObject()
            .put("tokens", new JsonArray()
                .add(token("monitoring", MONITORING).put("groups", new JsonArray().add("monitors")))
                .add(token("backup", BACKUP))
                .add(token("operator", OPERATOR)))
            .put("tokensFile", tokenFile.toString())
            .put("reloadMs", 100)
            .put("grants", new JsonArray()
                .add(new JsonObject().put("groups", new JsonArray().add("monitors"))
                    .put("classes", new JsonArray().add("read"))
                    .put("guests", new JsonArray().add("*")))
                .add(new JsonObject().put("principals", new JsonArray().add("backup"))
                    .put("classes", new JsonArray().add("read").add("filesystem"))
                    .put("guests", new JsonArray().add("db-*")))
                .add(new JsonObject().put("principals", new JsonArray().add("operator"))
                    .put("classes", everythingButCredentials)
                    .put("guests", new JsonArray().add("*"))))
            .put("rateLimits", new JsonObject().put("file-write", new JsonObject()
                .put("perMinute", 1).put("burst", 2))));
  }

  static JsonObject token(String name, String token) {
    return new JsonObject().put("name", name).put("hash", hash(token));
  }

  static String hash(String token) {
    try {
      return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (http != null) {
      http.close();
    }
    if (gateway != null) {
      gateway.stop().await(30, TimeUnit.SECONDS);
    }
  }

  private static String path(String guest, String command) {
    return "/v1/guests/" + guest + "/commands/" + command;
  }

  private static Http.Response post(String token, String guest, String command, String body)
      throws Exception {
    return http.post(path(guest, command), body, "Authorization", "Bearer " + token);
  }

  /** Asserts a coded error body and returns its message. */
  private static String refused(int status, Http.Response response) {
    assertEquals(status, response.status(), response.body());
    JsonObject error = response.json().getJsonObject("error");
    assertEquals(status, error.getInteger("code"), response.body());
    return error.getString("message");
  }

  private static long sent(String guest, String command) {
    return agents.get(guest).received().stream()
        .filter(r -> command.equals(r.getString("execute"))).count();
  }

  private static double denied(String reason, String principal) {
    Counter c = gateway.metrics().registry().find("qga.denied").tag("reason", reason)
        .tag("principal", principal).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void badCredentialsAre401AndSendNothing() throws Exception {
    long before = sent("db-1", "guest-get-osinfo");
    for (String[] headers : List.of(new String[0],
        new String[] {"Authorization", "Bearer wrong-token"},
        new String[] {"Authorization", "Bearer"},
        new String[] {"Authorization", "Bearer "},
        new String[] {"Authorization", "Basic " + MONITORING},
        new String[] {"Authorization", MONITORING},
        new String[] {"Authorization", "Bearer a.b.c"})) {
      Http.Response response = http.post(path("db-1", "get-osinfo"), null, headers);
      refused(401, response);
      assertEquals("Bearer", response.headers().get("WWW-Authenticate"), response.body());
      assertFalse(response.body().contains(MONITORING), "the token is never echoed");
    }
    assertEquals(before, sent("db-1", "guest-get-osinfo"), "nothing reached the agent");
    assertTrue(denied("unauthenticated", "") >= 7);
    // the scheme is case-insensitive (RFC 7235)
    assertEquals(200, http.post(path("db-1", "get-osinfo"), null,
        "Authorization", "bearer " + MONITORING).status());
  }

  @Test
  void aCallerCannotNameItsOwnPrincipal() throws Exception {
    Principal forged = new Principal("operator", java.util.Set.of(), true);
    long before = sent("db-1", "guest-fstrim");
    String message = refused(400, http.post(path("db-1", "fstrim"), null,
        "Authorization", "Bearer " + MONITORING, Principal.HEADER, forged.toHeader()));
    assertTrue(message.contains(Principal.HEADER), message);
    assertEquals(before, sent("db-1", "guest-fstrim"));
  }

  @Test
  void eachPrincipalGetsItsClassesOnItsGuests() throws Exception {
    // monitoring: read everywhere, nothing else
    assertEquals(200, post(MONITORING, "web-1", "get-osinfo", null).status());
    long fstrims = sent("db-1", "guest-fstrim");
    String message = refused(403, post(MONITORING, "db-1", "fstrim", null));
    assertTrue(message.contains("principal monitoring") && message.contains("class filesystem")
        && message.contains("guest db-1"), message);
    // backup: read + filesystem on db-*
    assertEquals(200, post(BACKUP, "db-1", "fstrim", null).status());
    assertEquals(fstrims + 1, sent("db-1", "guest-fstrim"));
    long webTrims = sent("web-1", "guest-fstrim");
    message = refused(403, post(BACKUP, "web-1", "fstrim", null));
    assertTrue(message.contains("guest web-1"), message);
    assertEquals(webTrims, sent("web-1", "guest-fstrim"));
    // not exec, not through run, not through the passthrough
    long execs = sent("db-1", "guest-exec");
    assertTrue(refused(403, post(BACKUP, "db-1", "run", "{\"path\":\"/bin/true\"}"))
        .contains("class exec"));
    assertTrue(refused(403, post(BACKUP, "db-1", "command",
        "{\"execute\":\"guest-fstrim\"}")).contains("class passthrough"));
    assertTrue(refused(403, post(BACKUP, "db-1", "file-get", "{\"path\":\"/etc/hosts\"}"))
        .contains("class file-read"));
    // a streamed upload is file-put: file-write
    long opens = sent("db-1", "guest-file-open");
    assertTrue(refused(403, http.send(io.vertx.core.http.HttpMethod.PUT,
        "/v1/guests/db-1/files?path=/tmp/x", "data", "Authorization", "Bearer " + BACKUP))
        .contains("class file-write"));
    assertEquals(opens, sent("db-1", "guest-file-open"));
    assertEquals(execs, sent("db-1", "guest-exec"));
    assertEquals(fstrims + 1, sent("db-1", "guest-fstrim"));
    assertTrue(denied("not_granted", "backup") >= 5);
  }

  @Test
  void aPrincipalListsOnlyTheGuestsItHoldsAClassOn() throws Exception {
    Http.Response all = http.get("/v1/guests", "Authorization", "Bearer " + MONITORING);
    assertEquals(List.of("db-1", "web-1"), names(all));
    Http.Response backups = http.get("/v1/guests", "Authorization", "Bearer " + BACKUP);
    assertEquals(List.of("db-1"), names(backups));
    // another's guest is no guest: the listing does not tell what exists beyond the grants
    String message = refused(404, http.get("/v1/guests/web-1", "Authorization",
        "Bearer " + BACKUP));
    assertEquals("no guest web-1 in the cluster", message);
    assertEquals(200, http.get("/v1/guests/db-1", "Authorization", "Bearer " + BACKUP).status());
  }

  private static List<String> names(Http.Response response) {
    assertEquals(200, response.status(), response.body());
    return response.json().getJsonArray("guests").stream()
        .map(g -> ((JsonObject) g).getString("name")).sorted().toList();
  }

  @Test
  void thePassthroughIsCheckedAgainstTheClassOfWhatItRuns() throws Exception {
    // operator: everything but credentials, so passthrough of a read passes...
    assertEquals(200, post(OPERATOR, "web-1", "command", "{\"execute\":\"guest-get-osinfo\"}")
        .status());
    // ...and a password change through it does not
    long before = sent("web-1", "guest-set-user-password");
    String message = refused(403, post(OPERATOR, "web-1", "command",
        "{\"execute\":\"guest-set-user-password\",\"arguments\":{\"username\":\"root\","
            + "\"password\":\"c2VjcmV0\",\"crypted\":false}}"));
    assertTrue(message.contains("class credentials"), message);
    assertFalse(message.contains("c2VjcmV0"));
    refused(403, post(OPERATOR, "web-1", "set-user-password",
        "{\"username\":\"root\",\"password\":\"c2VjcmV0\",\"crypted\":false}"));
    assertEquals(before, sent("web-1", "guest-set-user-password"));
    assertEquals(200, post(OPERATOR, "web-1", "run", "{\"path\":\"/bin/true\"}").status());
  }

  @Test
  void aRateLimitAnswers429WithRetryAfter() throws Exception {
    String body = "{\"path\":\"/tmp/limited\",\"content-b64\":\"aGk=\"}";
    assertEquals(200, post(OPERATOR, "db-1", "file-put", body).status());
    assertEquals(200, post(OPERATOR, "db-1", "file-put", body).status());
    long opens = sent("db-1", "guest-file-open");
    Http.Response limited = post(OPERATOR, "db-1", "file-put", body);
    String message = refused(429, limited);
    assertTrue(message.contains("principal operator") && message.contains("file-write"), message);
    long retryAfter = Long.parseLong(limited.headers().get("Retry-After"));
    assertTrue(retryAfter >= 1 && retryAfter <= 60, "Retry-After " + retryAfter);
    assertEquals(opens, sent("db-1", "guest-file-open"), "the limited put sent nothing");
    assertEquals(1, denied("rate_limited", "operator"));
    // another principal has its own bucket; reads have no limit
    assertEquals(200, post(MONITORING, "db-1", "get-osinfo", null).status());
  }

  @Test
  void tokensFromTheFileRotateWithoutRestart() throws Exception {
    refused(401, post(ROTATED, "db-1", "get-osinfo", null));
    Files.writeString(tokenFile, "tokens:\n  - name: rotated\n    hash: " + hash(ROTATED)
        + "\n    groups: [monitors]\n");
    long deadline = System.currentTimeMillis() + 10_000;
    int status;
    do {
      Thread.sleep(50);
      status = post(ROTATED, "db-1", "get-osinfo", null).status();
    } while (status != 200 && System.currentTimeMillis() < deadline);
    assertEquals(200, status, "the new token works without a restart");
    // revoked: the file without it
    Files.writeString(tokenFile, "tokens: []\n");
    deadline = System.currentTimeMillis() + 10_000;
    do {
      Thread.sleep(50);
      status = post(ROTATED, "db-1", "get-osinfo", null).status();
    } while (status != 401 && System.currentTimeMillis() < deadline);
    assertEquals(401, status, "the revoked token is refused without a restart");
    // the configured tokens are unaffected
    assertEquals(200, post(MONITORING, "db-1", "get-osinfo", null).status());
  }

  @Test
  void configuredTokensAndGrantsChangeWithoutRestart() throws Exception {
    JsonObject config = config(guestsOf());
    JsonObject auth = config.getJsonObject("auth");
    // monitoring's token removed, backup granted filesystem on web-* too
    JsonArray tokens = new JsonArray().add(token("backup", BACKUP))
        .add(token("operator", OPERATOR));
    auth.put("tokens", tokens);
    auth.getJsonArray("grants").add(new JsonObject().put("principals", new JsonArray()
        .add("backup")).put("classes", new JsonArray().add("filesystem"))
        .put("guests", new JsonArray().add("web-*")));
    try {
      gateway.reconfigure(GatewayConfig.parse(config));
      refused(401, post(MONITORING, "web-1", "get-osinfo", null));
      assertEquals(200, post(BACKUP, "web-1", "fstrim", null).status());
    } finally {
      gateway.reconfigure(GatewayConfig.parse(config(guestsOf())));
    }
    assertEquals(200, post(MONITORING, "web-1", "get-osinfo", null).status());
    refused(403, post(BACKUP, "web-1", "fstrim", null));
  }

  private static JsonArray guestsOf() {
    JsonArray guests = new JsonArray();
    for (String guest : agents.keySet()) {
      guests.add(new JsonObject().put("name", guest)
          .put("socket", dir.resolve(guest + ".sock").toString()));
    }
    return guests;
  }

  @Test
  void busCallersWithoutAPrincipalHaveTheCeiling() throws Exception {
    long before = sent("web-1", "guest-fstrim");
    assertNotNull(Bus.ok(vertx, "agent.fstrim", new JsonObject().put("guest", "web-1")));
    assertEquals(before + 1, sent("web-1", "guest-fstrim"));
    // a trusted member naming a principal is believed: the holder applies its grants
    ReplyException e = GatewayHarness.failureOf(vertx.eventBus().request("agent.fstrim",
        new JsonObject().put("guest", "web-1"), new DeliveryOptions()
            .addHeader(Principal.HEADER, new Principal("monitoring", java.util.Set.of(), false)
                .toHeader())));
    assertEquals(403, e.failureCode(), e.getMessage());
    e = GatewayHarness.failureOf(vertx.eventBus().request("agent.ping",
        new JsonObject().put("guest", "web-1"), new DeliveryOptions()
            .addHeader(Principal.HEADER, "{not json")));
    assertEquals(403, e.failureCode(), e.getMessage());
  }

  // ---- the bridge ----

  private static final class BridgeClient implements AutoCloseable {
    private final NetClient client = vertx.createNetClient();
    private final NetSocket socket;
    private final BlockingQueue<JsonObject> frames;

    BridgeClient() throws Exception {
      socket = client.connect(bridgePort, "127.0.0.1").await(10, TimeUnit.SECONDS);
      frames = BridgeFrames.reader(socket);
    }

    JsonObject send(String address, String guest, JsonObject headers) throws Exception {
      JsonObject frame = new JsonObject().put("type", "send").put("address", address)
          .put("body", new JsonObject().put("guest", guest)).put("replyAddress", "r");
      if (headers != null) {
        frame.put("headers", headers);
      }
      return frame(frame);
    }

    /** Writes one frame and returns the next frame the bridge sends. */
    JsonObject frame(JsonObject frame) throws Exception {
      socket.write(BridgeFrames.frame(frame))
          .await(10, TimeUnit.SECONDS);
      JsonObject reply = frames.poll(10, TimeUnit.SECONDS);
      assertNotNull(reply, "no frame within 10 s");
      return reply;
    }

    @Override
    public void close() throws Exception {
      socket.close().await(10, TimeUnit.SECONDS);
    }
  }

  private static JsonObject bearer(String token) {
    return new JsonObject().put("authorization", "Bearer " + token);
  }

  private static void assertErr(int code, JsonObject frame) {
    assertEquals("err", frame.getString("type"), frame.encode());
    assertEquals(code, frame.getInteger("failureCode"), frame.encode());
  }

  @Test
  void aBridgeClientAuthenticatesBeforeItsFirstCommand() throws Exception {
    try (BridgeClient client = new BridgeClient()) {
      long before = sent("db-1", "guest-fstrim");
      JsonObject err = client.send("agent.fstrim", "db-1", null);
      assertErr(401, err);
      assertTrue(err.getString("message").startsWith("unauthenticated"), err.encode());
      assertErr(401, client.send("agent.fstrim", "db-1", bearer("wrong")));
      assertErr(401, client.frame(new JsonObject().put("type", "register")
          .put("address", "agent.events")));
      // a ping needs no principal
      assertEquals("pong", client.frame(new JsonObject().put("type", "ping")).getString("type"));
      assertEquals(before, sent("db-1", "guest-fstrim"), "nothing ran before authentication");
      // the first frame with a good token authenticates the connection
      assertEquals("message", client.send("agent.fstrim", "db-1", bearer(BACKUP))
          .getString("type"));
      // later frames need no header: the principal is the connection's
      assertEquals("message", client.send("agent.fstrim", "db-1", null).getString("type"));
      JsonObject denied = client.send("agent.fstrim", "web-1", null);
      assertErr(403, denied);
      assertTrue(denied.getString("message").contains("principal backup"), denied.encode());
      assertEquals(before + 2, sent("db-1", "guest-fstrim"));
    }
  }

  @Test
  void aBridgeFrameCannotNameItsOwnPrincipal() throws Exception {
    try (BridgeClient client = new BridgeClient()) {
      long before = sent("db-1", "guest-fstrim");
      for (String header : List.of(Principal.HEADER, "caller", "QGA-Principal")) {
        JsonObject headers = bearer(MONITORING).put(header,
            new Principal("operator", java.util.Set.of(), true).toHeader());
        JsonObject err = client.send("agent.fstrim", "db-1", headers);
        assertErr(400, err);
        assertTrue(err.getString("message").startsWith("identity_header"), err.encode());
      }
      assertEquals(before, sent("db-1", "guest-fstrim"));
    }
  }
}
