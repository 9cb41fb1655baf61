package io.qgagateway.testing;

import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.core.transport.Transport;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The tests' Vert.x instances use the kind of transport the gateway uses by default. */
@ExtendWith(VertxExtension.class)
class TestVertxTest {

  @Test
  void testsRunOnTheDefaultTransport(Vertx injected) throws Exception {
    // native unless the default (vertx.transport: auto) finds no native transport here
    boolean nativeExpected = GatewayConfig.parse(new JsonObject()).vertx().pickTransport()
        != Transport.NIO;
    Vertx own = TestVertx.create();
    try {
      assertEquals(nativeExpected, injected.isNativeTransportEnabled(),
          "vertx-junit5's instance (vertx.parameter.filename)");
      assertEquals(nativeExpected, own.isNativeTransportEnabled(), "TestVertx");
    } finally {
      own.close().await(10, TimeUnit.SECONDS);
    }
  }
}
