package io.qgagateway.e2e;

import io.qgagateway.api.Codes;
import io.qgagateway.commands.CommandCatalog;
import io.qgagateway.commands.CommandSpec;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every catalog command that neither changes the guest nor is restricted, against the real
 * host qemu-ga: each answers with a return, or, when this agent version lacks it or the host OS
 * can't do it, with 501 — and 501 only then.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RealAgentReadCommandsTest {

  private static final String GUEST = RealAgentFixture.GUEST;
  /** Commands that need arguments to read anything. */
  private static final Map<String, JsonObject> ARGUMENTS = Map.of(
      "guest-ssh-get-authorized-keys", new JsonObject().put("username", "root"));

  @RegisterExtension
  static final RealAgentExtension AGENT = new RealAgentExtension(false, new JsonObject());

  @Test
  void everySafeCommandAnswers() throws Exception {
    JsonObject info = Bus.ok(AGENT.vertx(), "agent.info", new JsonObject().put("guest", GUEST))
        .getJsonObject("return");
    Map<String, Boolean> enabled = new HashMap<>();
    for (Object c : info.getJsonArray("supported_commands")) {
      JsonObject command = (JsonObject) c;
      enabled.put(command.getString("name"), command.getBoolean("enabled"));
    }
    List<String> problems = new ArrayList<>();
    int answered = 0;
    for (CommandSpec spec : CommandCatalog.standard().exposed()) {
      if (spec.kind() != CommandSpec.Kind.AGENT || spec.mutating() || spec.restricted()) {
        continue;
      }
      JsonObject body = new JsonObject().put("guest", GUEST);
      if (ARGUMENTS.containsKey(spec.name())) {
        body.put("arguments", ARGUMENTS.get(spec.name()));
      }
      try {
        JsonObject reply = Bus.ok(AGENT.vertx(), spec.address(), body);
        assertTrue(reply.containsKey("return"), spec.name() + ": " + reply);
        answered++;
      } catch (AssertionError e) {
        ReplyException failure = e.getCause() instanceof ReplyException re ? re : null;
        boolean agentLacksIt = !Boolean.TRUE.equals(enabled.get(spec.name()));
        boolean unsupportedHere = failure != null && failure.getMessage()
            .startsWith("Unsupported:");
        // this host has no such file: the agent ran the command and said so, as a 502
        boolean noKeysHere = failure != null && failure.failureCode() == Codes.AGENT_ERROR
            && spec.name().equals("guest-ssh-get-authorized-keys")
            && failure.getMessage().contains("authorized_keys");
        if (noKeysHere) {
          continue;
        }
        if (failure == null || failure.failureCode() != Codes.UNSUPPORTED
            || !(agentLacksIt || unsupportedHere)) {
          problems.add(spec.name() + ": " + e.getMessage());
        }
      }
    }
    assertEquals(List.of(), problems);
    assertTrue(answered >= 15, "most read commands answered by qemu-ga " + info.getValue("version")
        + ": " + answered);
  }
}
