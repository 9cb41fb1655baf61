package io.qgagateway.api;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class GatewayFailureTest {

  private static GatewayFailure roundTrip(GatewayFailure f) {
    Buffer wire = Buffer.buffer("prefix");
    GatewayFailure.CODEC.encodeToWire(wire, f);
    return GatewayFailure.CODEC.decodeFromWire("prefix".length(), wire);
  }

  @Test
  void anAgentErrorKeepsItsClassApartFromItsMessage() {
    GatewayFailure f = Failures.agent(Codes.UNSUPPORTED, "CommandNotFound", "Command x has been disabled");
    assertEquals("CommandNotFound: Command x has been disabled", f.getMessage());
    GatewayFailure back = roundTrip(f);
    assertEquals(501, back.failureCode());
    assertEquals("CommandNotFound", back.agentClass());
    assertEquals("Command x has been disabled", back.detail());
    assertEquals(f.getMessage(), back.getMessage());
  }

  @Test
  void aGatewayFailureTravelsWithoutAClass() {
    GatewayFailure back = roundTrip(Failures.of(Codes.TIMEOUT, "no reply: \u00e9\u4e2d"));
    assertEquals(504, back.failureCode());
    assertNull(back.agentClass());
    assertEquals("no reply: \u00e9\u4e2d", back.getMessage());
  }

  @Test
  void normalizeKeepsAGatewayFailureAsItIs() {
    GatewayFailure f = Failures.of(Codes.BUSY, "full");
    assertSame(f, Failures.normalize(f));
  }
}
