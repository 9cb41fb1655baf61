package io.qgagateway.config;

import io.vertx.core.Vertx;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code http.tls}, {@code bridge.tls}, {@code cluster.tls}: parsing, and their variables. */
class TlsConfigTest {

  private static GatewayConfig parse(String yaml) {
    return GatewayConfig.parse(GatewayConfigTest.yaml(yaml));
  }

  private static void assertFailure(String expectedStart, String yaml) {
    String message = assertThrows(ConfigException.class, () -> parse(yaml)).getMessage();
    assertTrue(message.startsWith(expectedStart), "expected '" + expectedStart + "...', got: "
        + message);
  }

  @Test
  void plainByDefault() {
    GatewayConfig c = parse("{}");
    assertNull(c.http().tls());
    assertNull(c.bridge().tls());
    assertNull(c.cluster().tls());
    assertNull(parse("http: {tls: {}}").http().tls(), "an empty block is no TLS");
  }

  @Test
  void serverBlocksReadEveryKey() {
    GatewayConfig c = parse("""
        http:
          tls: {cert: /t/h.crt, key: /t/h.key, clientCa: /t/ca.crt, clientAuth: Required,
                reloadIntervalMs: 500}
        bridge:
          tls: {cert: /t/b.crt, key: /t/b.key}
        cluster:
          tls: {cert: /t/c.crt, key: /t/c.key, ca: /t/cca.crt}
        """);
    assertEquals(new TlsConfig("http.tls", "/t/h.crt", "/t/h.key", "/t/ca.crt", "clientCa",
        ClientAuth.REQUIRED, 500), c.http().tls());
    assertEquals(new TlsConfig("bridge.tls", "/t/b.crt", "/t/b.key", null, "clientCa",
        ClientAuth.NONE, TlsConfig.DEFAULT_RELOAD_INTERVAL_MS), c.bridge().tls());
    assertEquals(new TlsConfig("cluster.tls", "/t/c.crt", "/t/c.key", "/t/cca.crt", "ca",
        ClientAuth.REQUIRED, 0), c.cluster().tls(), "members always prove their certificate");
    assertEquals("http.tls.clientCa", c.http().tls().keyOf(c.http().tls().caField()));
  }

  @Test
  void mistakesAreNamedByTheirKey() {
    assertFailure("http.tls.key: required", "http: {tls: {cert: /a}}");
    assertFailure("bridge.tls.cert: required", "bridge: {tls: {key: /a}}");
    assertFailure("http.tls.clientAuth: expected none, request or required",
        "http: {tls: {cert: /a, key: /b, clientCa: /c, clientAuth: optional}}");
    assertFailure("http.tls.clientCa: required when http.tls.clientAuth is request",
        "http: {tls: {cert: /a, key: /b, clientAuth: request}}");
    assertFailure("http.tls.clientAuth: is none",
        "http: {tls: {cert: /a, key: /b, clientCa: /c}}");
    assertFailure("http.tls.password: unknown key",
        "http: {tls: {cert: /a, key: /b, password: x}}");
    assertFailure("cluster.tls.ca: required", "cluster: {tls: {cert: /a, key: /b}}");
    assertFailure("cluster.tls.clientAuth: unknown key",
        "cluster: {tls: {cert: /a, key: /b, ca: /c, clientAuth: none}}");
    assertFailure("http.tls.reloadIntervalMs: must be between 100",
        "http: {tls: {cert: /a, key: /b, reloadIntervalMs: 10}}");
  }

  @Test
  void theVariablesOfAMountedSecretReachTheirKeys() {
    Vertx vertx = Vertx.vertx();
    try {
      JsonObject tree = new ConfigLoader(vertx, "unused.yaml", null).applyEnvironment(
          new JsonObject()
              .put("QGA_HTTP_TLS_CERT", "/tls/http/tls.crt")
              .put("QGA_HTTP_TLS_KEY", "/tls/http/tls.key")
              .put("QGA_HTTP_TLS_CLIENT_CA", "/tls/clients/ca.crt")
              .put("QGA_HTTP_TLS_CLIENT_AUTH", "request")
              .put("QGA_BRIDGE_TLS_CERT", "/tls/http/tls.crt")
              .put("QGA_BRIDGE_TLS_KEY", "/tls/http/tls.key")
              .put("QGA_BRIDGE_TLS_CLIENT_CA", "/tls/clients/ca.crt")
              .put("QGA_BRIDGE_TLS_CLIENT_AUTH", "required")
              .put("QGA_CLUSTER_TLS_CERT", "/tls/bus/tls.crt")
              .put("QGA_CLUSTER_TLS_KEY", "/tls/bus/tls.key")
              .put("QGA_CLUSTER_TLS_CA", "/tls/bus/ca.crt"));
      GatewayConfig c = GatewayConfig.parse(tree);
      assertEquals("/tls/http/tls.crt", c.http().tls().cert());
      assertEquals(ClientAuth.REQUEST, c.http().tls().clientAuth());
      assertEquals(ClientAuth.REQUIRED, c.bridge().tls().clientAuth());
      assertEquals("/tls/clients/ca.crt", c.bridge().tls().ca());
      assertEquals("/tls/bus/ca.crt", c.cluster().tls().ca());
      assertEquals("/tls/bus/tls.key", c.cluster().tls().key());
    } finally {
      vertx.close();
    }
  }
}
