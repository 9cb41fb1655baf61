package io.qgagateway.e2e;

import io.qgagateway.Gateway;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.BridgeFrames;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestCa;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Client certificates as principals over real TLS: HTTPS and the bridge with
 * {@code clientAuth: request} and a test CA; the verified certificate's CN is the principal and
 * its grants apply; a certificate of another CA never completes the handshake.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CertificateAuthTest {

  @TempDir
  static Path dir;

  private static Vertx vertx;
  private static Gateway gateway;
  private static int bridgePort;
  private static TestCa ca;
  private static TestCa.Issued backup;
  private static TestCa.Issued stranger;
  private static TestCa.Issued intruder;
  private static final java.util.Map<String, SimulatedAgent> agents = new java.util.HashMap<>();

  @BeforeAll
  static void start(Vertx vx) throws Exception {
    vertx = vx;
    ca = TestCa.create(dir, "api");
    TestCa.Issued server = ca.issue("server");
    backup = ca.issue("backup");
    stranger = ca.issue("stranger");
    intruder = TestCa.create(dir.resolve(".."), "other-" + System.nanoTime()).issue("backup",
        "intruder-" + System.nanoTime());
    JsonArray guests = GatewayHarness.simulatedGuests(vertx, dir, agents, "db-1", "web-1");
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      bridgePort = free.getLocalPort();
    }
    JsonObject tls = new JsonObject().put("cert", server.cert().toString())
        .put("key", server.key().toString()).put("clientCa", ca.caCert().toString())
        .put("clientAuth", "request");
    JsonObject config = RealAgentFixture.baseConfig(guests);
    config.getJsonObject("http").put("tls", tls);
    config.put("bridge", new JsonObject().put("enabled", true).put("host", "127.0.0.1")
            .put("port", bridgePort).put("tls", tls.copy()))
        .put("auth", new JsonObject()
            .put("certificates", new JsonObject().put("enabled", true))
            .put("grants", new JsonArray().add(new JsonObject()
                .put("principals", new JsonArray().add("backup"))
                .put("classes", new JsonArray().add("read").add("filesystem"))
                .put("guests", new JsonArray().add("db-*")))));
    gateway = RealAgentFixture.startGateway(vertx, config);
    Bus.awaitReady(vertx, "db-1", 15_000);
    Bus.awaitReady(vertx, "web-1", 15_000);
  }

  @AfterAll
  static void stop() throws Exception {
    if (gateway != null) {
      gateway.stop().await(30, TimeUnit.SECONDS);
    }
  }

  private static long fstrims(String guest) {
    return agents.get(guest).received().stream()
        .filter(r -> "guest-fstrim".equals(r.getString("execute"))).count();
  }

  private static HttpClient client(TestCa.Issued cert) {
    HttpClientOptions options = new HttpClientOptions().setSsl(true)
        .setTrustOptions(new PemTrustOptions().addCertPath(ca.caCert().toString()));
    if (cert != null) {
      options.setKeyCertOptions(new PemKeyCertOptions().setCertPath(cert.cert().toString())
          .setKeyPath(cert.key().toString()));
    }
    return vertx.createHttpClient(options);
  }

  private static int fstrim(HttpClient client, String guest) throws Exception {
    return client.request(HttpMethod.POST, gateway.httpPort(), "127.0.0.1",
            "/v1/guests/" + guest + "/commands/fstrim")
        .compose(r -> r.send()).compose(r -> r.body().map(b -> r.statusCode()))
        .await(20, TimeUnit.SECONDS);
  }

  @Test
  void theCertificatesCnIsThePrincipalOverHttps() throws Exception {
    long db = fstrims("db-1");
    long web = fstrims("web-1");
    assertEquals(200, fstrim(client(backup), "db-1"));
    assertEquals(403, fstrim(client(backup), "web-1"), "backup: db-* only");
    // a certificate of the trusted CA without grants: a principal with no rights
    assertEquals(403, fstrim(client(stranger), "db-1"));
    // no certificate and no token: 401
    assertEquals(401, fstrim(client(null), "db-1"));
    // a certificate of another CA with the same CN: the server names its CA, so the client
    // offers no certificate (clientAuth: request) and is a caller without credentials
    assertEquals(401, fstrim(client(intruder), "db-1"));
    assertEquals(db + 1, fstrims("db-1"));
    assertEquals(web, fstrims("web-1"));
  }

  @Test
  void theCertificateAuthenticatesABridgeConnectionWithoutAHeader() throws Exception {
    NetSocket socket = vertx.createNetClient(new NetClientOptions().setSsl(true)
            .setHostnameVerificationAlgorithm("HTTPS")
            .setTrustOptions(new PemTrustOptions().addCertPath(ca.caCert().toString()))
            .setKeyCertOptions(new PemKeyCertOptions().setCertPath(backup.cert().toString())
                .setKeyPath(backup.key().toString())))
        .connect(bridgePort, "127.0.0.1").await(10, TimeUnit.SECONDS);
    BlockingQueue<JsonObject> frames = BridgeFrames.reader(socket);
    long db = fstrims("db-1");
    for (String guest : List.of("db-1", "web-1")) {
      socket.write(BridgeFrames.frame(new JsonObject().put("type", "send").put("address", "agent.fstrim")
          .put("body", new JsonObject().put("guest", guest)).put("replyAddress", "r")
          ));
    }
    JsonObject first = frames.poll(10, TimeUnit.SECONDS);
    JsonObject second = frames.poll(10, TimeUnit.SECONDS);
    assertNotNull(second);
    List<JsonObject> both = List.of(first, second);
    assertTrue(both.stream().anyMatch(f -> "message".equals(f.getString("type"))), both.toString());
    assertTrue(both.stream().anyMatch(f -> "err".equals(f.getString("type"))
        && f.getInteger("failureCode") == 403
        && f.getString("message").contains("principal backup")), both.toString());
    assertEquals(db + 1, fstrims("db-1"));
    socket.close();
  }
}
