package io.qgagateway.e2e;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.BridgeFrames;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestCa;
import io.qgagateway.tls.ServerTls;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.KeyCertOptions;
import io.vertx.core.net.NetClient;
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

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Principal;
import java.security.PrivateKey;
import java.time.Duration;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * HTTPS and the bridge over TLS with real handshakes against a CA the test makes: the API with
 * {@code clientAuth: required} (a certificate of the client CA gets in; none, or one of another
 * CA, is refused at the handshake), the bridge with server-only TLS and a real bridge client,
 * certificate files replaced while the gateway runs, and bad files at start and at reload.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TlsTest {

  private static final String GUEST = "sim-1";
  private static final Duration WAIT = Duration.ofSeconds(10);

  @TempDir
  static Path dir;

  private static Vertx vertx;
  private static Gateway gateway;
  private static TestCa ca;
  private static TestCa otherCa;
  private static TestCa.Issued server;
  private static TestCa.Issued client;
  private static TestCa.Issued stranger;
  private static int bridgePort;
  // held in fields: Vert.x closes an unreferenced client, and its sockets, on GC
  private static NetClient bridgeClient;
  private static NetClient plainClient;

  @BeforeAll
  static void start(Vertx vx) throws Exception {
    vertx = vx;
    ca = TestCa.create(dir, "fleet");
    otherCa = TestCa.create(dir, "other");
    server = ca.issue("gateway-1", "server");
    client = ca.issue("backup-service");
    stranger = otherCa.issue("backup-service", "stranger");
    String sock = dir.resolve("sim-1.sock").toString();
    new SimulatedAgent(vertx, "sim-host").listenUnix(sock).await(10, TimeUnit.SECONDS);
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      bridgePort = free.getLocalPort();
    }
    JsonObject config = RealAgentFixture.baseConfig(new JsonArray().add(new JsonObject()
        .put("name", GUEST).put("socket", sock)));
    config.getJsonObject("http").put("tls", tls(server).put("clientCa", ca.caCert().toString())
        .put("clientAuth", "required").put("reloadIntervalMs", 200));
    config.put("bridge", new JsonObject().put("enabled", true).put("host", "127.0.0.1")
        .put("port", bridgePort).put("tls", tls(server).put("reloadIntervalMs", 200)));
    gateway = RealAgentFixture.startGateway(vertx, config);
    Bus.awaitReady(vertx, GUEST, 15_000);
  }

  @AfterAll
  static void stop() throws Exception {
    if (gateway != null) {
      gateway.stop().await(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void httpsWithAClientCertificateOfTheClientCaServesTheApi() throws Exception {
    Response health = get(clientOptions(client), HttpMethod.GET, "/health/live");
    assertEquals(200, health.status(), health.body());
    Response ping = get(clientOptions(client), HttpMethod.POST,
        "/v1/guests/" + GUEST + "/commands/ping");
    assertEquals(200, ping.status(), ping.body());
    assertEquals(new JsonObject().put("return", new JsonObject()), new JsonObject(ping.body()));
    assertTrue(ping.serverCn().startsWith("gateway-"), ping.serverCn());
  }

  @Test
  void noClientCertificateIsRefusedAtTheHandshake() {
    assertRefused(clientOptions(null));
  }

  @Test
  void aClientCertificateOfAnotherCaIsRefusedAtTheHandshake() throws Exception {
    // offered whatever CAs the server names (a client's own key manager would hold it back)
    assertRefused(clientOptions(null).setKeyCertOptions(insisting(stranger)));
  }

  @Test
  void aClientThatDoesNotTrustTheServerCaRefusesTheServer() {
    assertRefused(new HttpClientOptions().setSsl(true).setVerifyHost(true)
        .setTrustOptions(new PemTrustOptions().addCertPath(otherCa.caCert().toString()))
        .setKeyCertOptions(keyCert(client)));
  }

  @Test
  void plainHttpToTheHttpsPortGetsNoAnswer() {
    assertRefused(new HttpClientOptions());
  }

  @Test
  void theBridgeOverTlsServesARealBridgeClient() throws Exception {
    NetSocket socket = tlsBridgeClient().connect(bridgePort, "127.0.0.1")
        .await(10, TimeUnit.SECONDS);
    try {
      assertTrue(socket.isSsl());
      BlockingQueue<JsonObject> frames = BridgeFrames.reader(socket);
      socket.write(BridgeFrames.frame(new JsonObject().put("type", "send").put("address", "agent.ping")
          .put("body", new JsonObject().put("guest", GUEST)).put("replyAddress", "r1")))
          .await(10, TimeUnit.SECONDS);
      JsonObject reply = frames.poll(10, TimeUnit.SECONDS);
      assertNotNull(reply, "no reply frame");
      assertEquals("message", reply.getString("type"), reply.encode());
      assertEquals(new JsonObject().put("return", new JsonObject()), reply.getJsonObject("body"));
    } finally {
      socket.close();
    }
  }

  @Test
  void aPlainClientOnTheTlsBridgeGetsNoFrame() throws Exception {
    plainClient = vertx.createNetClient();
    NetSocket socket = plainClient.connect(bridgePort, "127.0.0.1").await(10, TimeUnit.SECONDS);
    BlockingQueue<JsonObject> frames = BridgeFrames.reader(socket);
    CopyOnWriteArrayList<Boolean> closed = new CopyOnWriteArrayList<>();
    socket.closeHandler(v -> closed.add(true));
    socket.write(BridgeFrames.frame(new JsonObject().put("type", "ping")));
    GatewayHarness.waitFor("the bridge hangs up on a plain client", () -> !closed.isEmpty(),
        WAIT);
    assertTrue(frames.isEmpty(), "no frame for a plain client: " + frames);
  }

  /**
   * New files, same paths: the next connections get the new certificate, with no restart; a
   * key that does not parse is logged under its key, without its bytes, and the certificate in
   * use stays.
   */
  @Test
  void replacedCertificateFilesReachNewConnectionsWithoutRestart() throws Exception {
    List<String> logged = new CopyOnWriteArrayList<>();
    Logger tlsLog = Logger.getLogger(ServerTls.class.getName());
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord record) {
        logged.add(record.getMessage());
      }

      @Override
      public void flush() {
      }

      @Override
      public void close() {
      }
    };
    tlsLog.addHandler(capture);
    try {
      TestCa.Issued renewed = ca.issue("gateway-renewed", "server");
      assertEquals(server, renewed, "same paths");
      GatewayHarness.waitFor("a new HTTPS connection sees the renewed certificate", () ->
          "gateway-renewed".equals(serverCnOrNull()), WAIT);
      GatewayHarness.waitFor("a new bridge connection sees it too", () ->
          "gateway-renewed".equals(bridgeCn()), WAIT);

      String garbage = "-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRETBYTES\n"
          + "-----END PRIVATE KEY-----\n";
      Files.writeString(server.key(), garbage);
      GatewayHarness.waitFor("the bad key is logged", () -> logged.stream()
          .anyMatch(m -> m.contains("http.tls.key") && m.contains("stays")), WAIT);
      assertFalse(logged.stream().anyMatch(m -> m.contains("SECRETBYTES")),
          "no key material in the log: " + logged);
      assertEquals("gateway-renewed", serverCnOrNull(), "the certificate in use stays");
      GatewayHarness.waitFor("the bridge still serves it",
          () -> "gateway-renewed".equals(bridgeCn()), WAIT);

      TestCa.Issued again = ca.issue("gateway-again", "server");
      assertEquals(server, again);
      GatewayHarness.waitFor("good files again are applied", () ->
          "gateway-again".equals(serverCnOrNull()), WAIT);
    } finally {
      tlsLog.removeHandler(capture);
    }
  }

  @Test
  void aMissingOrBadFileAtStartIsAConfigurationErrorNamingTheKey() throws Exception {
    TestCa.Issued other = otherCa.issue("elsewhere");
    assertStartRefused(new JsonObject().put("http", new JsonObject().put("port", 0)
        .put("tls", new JsonObject().put("cert", dir.resolve("missing.crt").toString())
            .put("key", server.key().toString()))), "http.tls.cert");
    assertStartRefused(new JsonObject().put("http", new JsonObject().put("port", 0)
        .put("tls", new JsonObject().put("cert", client.cert().toString())
            .put("key", other.key().toString()))), "http.tls.key");
    assertStartRefused(new JsonObject().put("http", new JsonObject().put("enabled", false))
        .put("bridge", new JsonObject().put("enabled", true).put("port", 0)
            .put("tls", new JsonObject().put("cert", client.key().toString())
                .put("key", client.key().toString()))), "bridge.tls.cert");
    assertStartRefused(new JsonObject().put("http", new JsonObject().put("port", 0)
        .put("tls", new JsonObject().put("cert", client.cert().toString())
            .put("key", client.key().toString()).put("clientAuth", "required")
            .put("clientCa", client.key().toString()))), "http.tls.clientCa");
  }

  /**
   * {@code clientAuth: request}: a client without a certificate gets in, one with a
   * certificate of the client CA is seen with its verified chain (what a principal is mapped
   * from), and one of another CA is refused at the handshake.
   */
  @Test
  void requestModeExposesTheVerifiedChainAndRefusesOtherCas() throws Exception {
    GatewayConfig config = GatewayConfig.parse(new JsonObject().put("http", new JsonObject()
        .put("tls", tls(server).put("clientCa", ca.caCert().toString())
            .put("clientAuth", "request"))));
    ServerTls tls = ServerTls.load(vertx, config.http().tls()).await(10, TimeUnit.SECONDS);
    HttpServer echo = vertx.createHttpServer(tls.applyTo(new HttpServerOptions()))
        .requestHandler(req -> {
          String seen;
          try {
            seen = ((X509Certificate) req.connection().peerCertificates().get(0))
                .getSubjectX500Principal().getName();
          } catch (SSLPeerUnverifiedException none) {
            seen = "anonymous";
          }
          req.response().end(seen);
        });
    int port = echo.listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS).actualPort();
    try {
      assertEquals("anonymous", request(clientOptions(null), port, HttpMethod.GET, "/").body());
      assertEquals("CN=backup-service",
          request(clientOptions(client), port, HttpMethod.GET, "/").body());
      // a well-behaved client offers no certificate the server's CA list does not name
      assertEquals("anonymous",
          request(clientOptions(stranger), port, HttpMethod.GET, "/").body());
      // one that insists is refused at the handshake
      HttpClientOptions insisting = clientOptions(null).setKeyCertOptions(insisting(stranger));
      assertThrows(Exception.class, () -> request(insisting, port, HttpMethod.GET, "/"));
    } finally {
      echo.close();
    }
  }

  // --- helpers ---

  private record Response(int status, String body, String serverCn) {
  }

  private static JsonObject tls(TestCa.Issued issued) {
    return new JsonObject().put("cert", issued.cert().toString())
        .put("key", issued.key().toString());
  }

  private static PemKeyCertOptions keyCert(TestCa.Issued issued) {
    return new PemKeyCertOptions().addCertPath(issued.cert().toString())
        .addKeyPath(issued.key().toString());
  }

  /** A client key manager that presents {@code issued} to any server, named CAs or not. */
  private static KeyCertOptions insisting(TestCa.Issued issued) throws Exception {
    X509KeyManager own = (X509KeyManager) keyCert(issued).getKeyManagerFactory(vertx)
        .getKeyManagers()[0];
    String alias = own.getClientAliases("EC", null)[0];
    return KeyCertOptions.wrap(new X509ExtendedKeyManager() {
      @Override
      public String[] getClientAliases(String keyType, Principal[] issuers) {
        return new String[] {alias};
      }

      @Override
      public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return alias;
      }

      @Override
      public String chooseEngineClientAlias(String[] keyType, Principal[] issuers,
                                            SSLEngine engine) {
        return alias;
      }

      @Override
      public String[] getServerAliases(String keyType, Principal[] issuers) {
        return null;
      }

      @Override
      public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return null;
      }

      @Override
      public X509Certificate[] getCertificateChain(String name) {
        return own.getCertificateChain(name);
      }

      @Override
      public PrivateKey getPrivateKey(String name) {
        return own.getPrivateKey(name);
      }
    });
  }

  private static HttpClientOptions clientOptions(TestCa.Issued certificate) {
    HttpClientOptions options = new HttpClientOptions().setSsl(true).setVerifyHost(true)
        .setTrustOptions(new PemTrustOptions().addCertPath(ca.caCert().toString()));
    return certificate == null ? options : options.setKeyCertOptions(keyCert(certificate));
  }

  private static Response get(HttpClientOptions options, HttpMethod method, String path)
      throws Exception {
    return request(options, gateway.httpPort(), method, path);
  }

  /** One request on a fresh connection (a fresh client), so each sees the current cert. */
  private static Response request(HttpClientOptions options, int port, HttpMethod method,
                                  String path) throws Exception {
    HttpClient http = vertx.createHttpClient(options.setKeepAlive(false));
    try {
      return http.request(method, port, "127.0.0.1", path)
          .compose(req -> req.send().compose(resp -> resp.body().map(body ->
              new Response(resp.statusCode(), body.toString(), cn(resp)))))
          .await(10, TimeUnit.SECONDS);
    } finally {
      http.close();
    }
  }

  private static String cn(HttpClientResponse response) {
    try {
      X509Certificate leaf = (X509Certificate) response.request().connection()
          .peerCertificates().get(0);
      return leaf.getSubjectX500Principal().getName().replaceFirst("^CN=", "");
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
  }

  private static String serverCnOrNull() {
    try {
      return get(clientOptions(client), HttpMethod.GET, "/health/live").serverCn();
    } catch (Exception e) {
      return null;
    }
  }

  private static String bridgeCn() {
    try {
      NetSocket socket = tlsBridgeClient().connect(bridgePort, "127.0.0.1")
          .await(10, TimeUnit.SECONDS);
      try {
        return ((X509Certificate) socket.peerCertificates().get(0)).getSubjectX500Principal()
            .getName().replaceFirst("^CN=", "");
      } finally {
        socket.close();
      }
    } catch (Exception e) {
      return null;
    }
  }

  private static NetClient tlsBridgeClient() {
    if (bridgeClient == null) {
      bridgeClient = vertx.createNetClient(new NetClientOptions().setSsl(true)
          .setHostnameVerificationAlgorithm("HTTPS")
          .setTrustOptions(new PemTrustOptions().addCertPath(ca.caCert().toString())));
    }
    return bridgeClient;
  }

  private static void assertRefused(HttpClientOptions options) {
    Exception e = assertThrows(Exception.class,
        () -> get(options, HttpMethod.GET, "/health/live"));
    assertNotNull(e.getMessage(), e.toString());
  }

  private static void assertStartRefused(JsonObject overrides, String key) throws Exception {
    JsonObject config = RealAgentFixture.baseConfig(new JsonArray());
    overrides.forEach(e -> config.put(e.getKey(), e.getValue()));
    Vertx separate = Vertx.vertx();
    try {
      Future<Gateway> started = Gateway.start(separate, GatewayConfig.parse(config),
          new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), new Health(false));
      try {
        started.await(30, TimeUnit.SECONDS);
        fail("started with " + overrides.encode());
      } catch (ConfigException e) {
        assertTrue(e.getMessage().startsWith(key + ":"), key + " named in: " + e.getMessage());
      }
    } finally {
      separate.close().await(30, TimeUnit.SECONDS);
    }
  }

}
