package io.qgagateway.protocol;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

class AgentRequestsTest {

  @Test
  void commandIsOneCompactLineWithArgumentsOnlyWhenThereAreAny() {
    assertEquals("{\"execute\":\"guest-ping\"}\n", text(AgentRequests.command("guest-ping", null)));
    assertEquals("{\"execute\":\"guest-ping\"}\n",
        text(AgentRequests.command("guest-ping", new JsonObject())));
    assertEquals("{\"execute\":\"guest-fstrim\",\"arguments\":{\"minimum\":0}}\n",
        text(AgentRequests.command("guest-fstrim", new JsonObject().put("minimum", 0))));
  }

  @Test
  void repeatedCommandsGetBuffersOfTheirOwn() {
    Buffer first = AgentRequests.command("guest-info", null);
    Buffer second = AgentRequests.command("guest-info", null);
    assertNotSame(first, second);
    first.setByte(0, (byte) 'X');
    assertEquals("{\"execute\":\"guest-info\"}\n", text(second));
    assertEquals("{\"execute\":\"guest-info\"}\n", text(AgentRequests.command("guest-info", null)));
  }

  @Test
  void syncStartsWithTheDelimiterAndCarriesTheId() {
    Buffer sync = AgentRequests.syncDelimited(42, false);
    assertEquals((byte) 0xFF, sync.getByte(0));
    assertEquals("{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":42}}\n",
        sync.getString(1, sync.length(), StandardCharsets.UTF_8.name()));
  }

  private static String text(Buffer buffer) {
    return buffer.toString(StandardCharsets.UTF_8);
  }
}
