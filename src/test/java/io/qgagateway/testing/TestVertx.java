package io.qgagateway.testing;

import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;

/** A Vert.x set up as the gateway's default configuration sets up its own: tests run on it. */
public final class TestVertx {

  private TestVertx() {
  }

  public static Vertx create() {
    return GatewayConfig.parse(new JsonObject()).vertx()
        .applyTo(Vertx.builder(), new VertxOptions()).build();
  }
}
