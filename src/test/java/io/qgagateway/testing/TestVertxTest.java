package io.qgagateway.testing;

import io.vertx.core.Vertx;
import io.vertx.core.transport.Transport;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The tests' Vert.x instances use the transport the gateway uses by default (epoll on Linux). */
@ExtendWith(VertxExtension.class)
class TestVertxTest {

  @Test
  void testsRunOnTheDefaultTransport(Vertx injected) throws Exception {
    Vertx own = TestVertx.create();
    try {
      assertEquals(Transport.EPOLL.available(), injected.isNativeTransportEnabled(),
          "vertx-junit5's instance (vertx.parameter.filename)");
      assertEquals(Transport.EPOLL.available(), own.isNativeTransportEnabled(), "TestVertx");
    } finally {
      own.close().await(10, TimeUnit.SECONDS);
    }
  }
}
