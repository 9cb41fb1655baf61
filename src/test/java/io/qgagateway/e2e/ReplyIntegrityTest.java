package io.qgagateway.e2e;

import io.qgagateway.api.Codes;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reply integrity and deadlines against the real qemu-ga (issue 10, items 1 and 2).
 *
 * <p>Item 1: a request over qemu-ga's parser limits makes the agent reset its parser mid-request,
 * answer an error, and answer the rest of the bytes as further requests. Before the fix the link
 * took the first answer as the reply and handed the others to the callers queued behind it
 * (502 parse errors, once another command's return), and the tail could run a command the
 * policy forbids. Now such a request is refused before anything is written.
 *
 * <p>Item 2: a request's deadline is resolved once where it enters. Before the fix, HTTP
 * passthrough worked out its own timeout from the catalog's {@code command} entry (30 s + 5 s)
 * while the link used the executed command's, and edited {@code timeouts} never reached HTTP.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ReplyIntegrityTest {

  private static final String GUEST = RealAgentFixture.GUEST;
  /** Longer than the passthrough address's own timeout (+ the old 5 s HTTP margin). */
  private static final long HOST_NAME_TIMEOUT_MS = 6500;

  @RegisterExtension
  static final RealAgentExtension AGENT = new RealAgentExtension(true, policy(
      new JsonObject().put("command", 1000).put("guest-get-host-name", HOST_NAME_TIMEOUT_MS)));

  private static Http http;

  private static JsonObject policy(JsonObject timeouts) {
    // exec is allowed so that an over-limit guest-exec reaches the limit check; nothing runs
    return new JsonObject()
        .put("policy", new JsonObject().put("allow", new JsonArray().add("command")
            .add("guest-exec")))
        .put("timeouts", timeouts);
  }

  @BeforeAll
  static void client() {
    http = new Http(AGENT.vertx(), AGENT.fixture().httpPort());
  }

  @AfterAll
  static void close() throws Exception {
    http.close();
  }

  private static JsonArray strings(int n) {
    JsonArray a = new JsonArray();
    for (int i = 0; i < n; i++) {
      a.add("1");
    }
    return a;
  }

  private static Future<JsonObject> hostName() {
    return Bus.send(AGENT.vertx(), "agent.get-host-name", new JsonObject().put("guest", GUEST));
  }

  @Test
  void aRequestTheAgentWouldSplitIsRefusedAndQueuedCallersGetTheirOwnReplies() throws Exception {
    String expected = Bus.ok(AGENT.vertx(), "agent.get-host-name",
        new JsonObject().put("guest", GUEST)).getJsonObject("return").getString("host-name");
    // 1.1M arguments: more tokens than half the agent's parser limit
    JsonObject attack = new JsonObject().put("guest", GUEST).put("execute", "guest-exec")
        .put("arguments", new JsonObject().put("path", "/bin/true")
            .put("arg", strings(1_100_000)));
    List<Future<JsonObject>> callers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      callers.add(hostName());
    }
    Future<JsonObject> refused = Bus.send(AGENT.vertx(), "agent.command", attack);
    for (int i = 0; i < 3; i++) {
      callers.add(hostName());
    }
    ReplyException e = Bus.failure(refused);
    assertEquals(Codes.BAD_REQUEST, e.failureCode());
    assertTrue(e.getMessage().contains("tokens"), e.getMessage());
    for (Future<JsonObject> caller : callers) {
      JsonObject reply = caller.await(20, TimeUnit.SECONDS);
      assertEquals(expected, reply.getJsonObject("return").getString("host-name"), "" + reply);
    }
  }

  /** The request of the issue: guest-ping carrying ~1M elements and a guest-exec in its tail. */
  @Test
  void passthroughArgumentsOfAKnownCommandAreCheckedAsOnItsOwnAddress() throws Exception {
    JsonObject body = new JsonObject().put("guest", GUEST).put("execute", "guest-ping")
        .put("arguments", new JsonObject().put("a", strings(1_000_000))
            .put("b", new JsonObject().put("execute", "guest-exec")));
    ReplyException e = Bus.failure(Bus.send(AGENT.vertx(), "agent.command", body));
    assertEquals(Codes.BAD_REQUEST, e.failureCode());
    assertEquals("arguments.a: unknown argument of guest-ping", e.getMessage());
  }

  /**
   * A stopped agent answers nothing. HTTP passthrough of guest-get-host-name must fail at that
   * command's configured timeout, the same moment the link gives up (before: at the passthrough
   * address's 1 s + a 5 s HTTP margin, while the link kept the request), and an edited timeout
   * applies to HTTP at once.
   */
  @Test
  void httpPassthroughFailsAtTheExecutedCommandsConfiguredDeadline() throws Exception {
    long elapsed = stoppedAgentCall();
    assertTrue(elapsed >= HOST_NAME_TIMEOUT_MS - 50 && elapsed < HOST_NAME_TIMEOUT_MS + 1500,
        "504 after " + elapsed + " ms, expected about " + HOST_NAME_TIMEOUT_MS);

    JsonObject edited = RealAgentFixture.baseConfig(new JsonArray().add(new JsonObject()
            .put("name", GUEST).put("socket", AGENT.fixture().agent().socket().toString())))
        .mergeIn(policy(new JsonObject().put("guest-get-host-name", 700)));
    AGENT.fixture().gateway().reconfigure(GatewayConfig.parse(edited));
    try {
      long again = stoppedAgentCall();
      assertTrue(again >= 650 && again < 700 + 1500, "504 after " + again + " ms, expected ~700");
    } finally {
      edited.mergeIn(policy(new JsonObject().put("command", 1000)
          .put("guest-get-host-name", HOST_NAME_TIMEOUT_MS)));
      AGENT.fixture().gateway().reconfigure(GatewayConfig.parse(edited));
    }
  }

  /** Stops the agent (SIGSTOP), calls through HTTP passthrough, resumes it; the call's time. */
  private static long stoppedAgentCall() throws Exception {
    long pid = AGENT.fixture().agent().pid();
    signal("STOP", pid);
    long elapsed;
    try {
      String body = new JsonObject().put("execute", "guest-get-host-name").encode();
      long start = System.nanoTime();
      Http.Response r = http.post("/v1/guests/" + GUEST + "/commands/command", body);
      elapsed = (System.nanoTime() - start) / 1_000_000;
      assertEquals(Codes.TIMEOUT, r.status(), r.body());
      assertTrue(r.body().contains("no reply from the agent"), r.body());
    } finally {
      signal("CONT", pid);
    }
    Bus.awaitReady(AGENT.vertx(), GUEST, 10_000);
    return elapsed;
  }

  private static void signal(String signal, long pid) throws Exception {
    assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).start()
        .waitFor());
  }
}
