package io.qgagateway.http;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.auth.Authenticator;
import io.qgagateway.auth.Principal;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Secure by default: without credentials only a loopback server lets callers in; any other
 * address refuses every request (503) and readiness says why. A token file that is missing
 * (the Kubernetes Secret not created) accepts no token and also keeps the member unready.
 * No socket is bound: the guard decides from the configured address (192.0.2.0/24 is
 * TEST-NET-1, nothing is ever sent there).
 */
@ExtendWith(VertxExtension.class)
class FailClosedTest {

  @TempDir
  Path dir;

  private static Authenticator authenticator(Vertx vertx, JsonObject auth) throws Exception {
    return Authenticator.start(vertx, GatewayConfig.parse(new JsonObject().put("auth", auth)))
        .await(10, TimeUnit.SECONDS);
  }

  private static Health health(EntryGuard guard) {
    Health health = new Health(false);
    health.configLoaded();
    health.httpUp();
    health.auth(guard::problem);
    return health;
  }

  @Test
  void withoutCredentialsOnlyLoopbackIsOpen(Vertx vertx) throws Exception {
    Authenticator none = authenticator(vertx, new JsonObject());
    GatewayMetrics metrics = new GatewayMetrics(new SimpleMeterRegistry(), false);
    EntryGuard loopback = new EntryGuard(none, metrics, "http.host", "127.0.0.1");
    assertEquals(Principal.ANONYMOUS, loopback.authenticate(null, null)
        .await(10, TimeUnit.SECONDS));
    assertNull(loopback.problem());
    assertTrue(health(loopback).ready());

    EntryGuard exposed = new EntryGuard(none, metrics, "http.host", "192.0.2.10");
    ReplyException e = assertThrows(ReplyException.class, () -> exposed.authenticate(
        "Bearer anything", null).await(10, TimeUnit.SECONDS));
    assertEquals(503, e.failureCode());
    assertTrue(e.getMessage().contains("no credentials configured and http.host 192.0.2.10 is "
        + "not loopback"), e.getMessage());
    Health health = health(exposed);
    assertFalse(health.ready());
    assertEquals("DOWN", health.readiness().getString("status"));
    assertTrue(health.readiness().getJsonObject("checks").getString("auth")
        .startsWith("no credentials configured"), health.readiness().encode());
    assertEquals(1, metrics.registry().find("qga.denied").tag("reason", "no_credentials")
        .counter().count());
  }

  /** The whole gateway: /health/ready over HTTP names the missing file, /v1 takes no token. */
  @Test
  void aGatewayWithoutItsTokenFileIsNotReady(Vertx vertx) throws Exception {
    JsonObject config = new JsonObject().put("node", new JsonObject().put("name", "t"))
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("libvirt", new JsonObject().put("enabled", false))
        .put("shutdown", new JsonObject().put("drainMs", 100))
        .put("auth", new JsonObject().put("tokensFile", dir.resolve("absent.yaml").toString()));
    Gateway gateway = Gateway.start(vertx, GatewayConfig.parse(config),
        new SimpleMeterRegistry(), new Health(false)).await(30, TimeUnit.SECONDS);
    try {
      HttpClient client = vertx.createHttpClient();
      JsonObject ready = new JsonObject(get(client, gateway.httpPort(), "/health/ready", 503));
      assertTrue(ready.getJsonObject("checks").getString("auth").contains("absent.yaml: no such "
          + "file"), ready.encode());
      JsonObject error = new JsonObject(get(client, gateway.httpPort(), "/v1/guests", 401));
      assertEquals(401, error.getJsonObject("error").getInteger("code"));
    } finally {
      gateway.stop().await(30, TimeUnit.SECONDS);
    }
  }

  private static String get(HttpClient client, int port, String path, int status)
      throws Exception {
    return client.request(HttpMethod.GET, port, "127.0.0.1", path)
        .compose(r -> r.putHeader("Authorization", "Bearer some-token").send())
        .compose(r -> {
          assertEquals(status, r.statusCode(), path);
          return r.body();
        })
        .await(10, TimeUnit.SECONDS).toString();
  }

  @Test
  void aMissingTokenFileAcceptsNothingAndSaysWhy(Vertx vertx) throws Exception {
    Path file = dir.resolve("tokens.yaml");
    Authenticator auth = authenticator(vertx, new JsonObject().put("tokensFile", file.toString())
        .put("reloadMs", 100));
    try {
      EntryGuard guard = new EntryGuard(auth,
          new GatewayMetrics(new SimpleMeterRegistry(), false), "http.host", "192.0.2.10");
      ReplyException e = assertThrows(ReplyException.class, () -> guard.authenticate(
          "Bearer anything", null).await(10, TimeUnit.SECONDS));
      assertEquals(401, e.failureCode());
      Health health = health(guard);
      assertFalse(health.ready());
      assertTrue(health.readiness().getJsonObject("checks").getString("auth")
          .contains("no such file"), health.readiness().encode());
      // the Secret appears: ready once the file is read
      Files.writeString(file, "tokens: []\n");
      long deadline = System.currentTimeMillis() + 10_000;
      while (!health.ready() && System.currentTimeMillis() < deadline) {
        Thread.sleep(20);
      }
      assertTrue(health.ready(), health.readiness().encode());
    } finally {
      auth.close();
    }
  }
}
