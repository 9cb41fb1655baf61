package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.Faults;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static io.qgagateway.testing.GatewayHarness.await;
import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.failureOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every failure code of API.md section 2 through the event bus, against simulated agents; and
 * the audit log of a mutating command, without its secret.
 */
@ExtendWith(VertxExtension.class)
class DispatchTest {

  private static final String GUEST = "vm-1";

  private GatewayHarness h;

  @BeforeEach
  void setUp(Vertx vertx, @TempDir Path dir) {
    h = new GatewayHarness(vertx, dir);
  }

  @AfterEach
  void tearDown() {
    h.close();
  }

  /** One simulated guest with these options, a gateway with {@code extra} merged into its config. */
  private void start(SimulatedAgent.Options options, JsonObject extra) {
    h.agent(GUEST, options);
    h.start(h.config(GUEST).mergeIn(extra, true), new SimpleMeterRegistry());
    h.awaitReady(GUEST);
  }

  private void start() {
    start(SimulatedAgent.Options.DEFAULTS, new JsonObject());
  }

  private static JsonObject allow(String... names) {
    return new JsonObject().put("policy", new JsonObject().put("allow", new JsonArray(List.of(names))));
  }

  private void assertCode(int code, String suffix, Object body) {
    ReplyException e = h.failure(suffix, body);
    assertEquals(code, e.failureCode(), suffix + " " + body + ": " + e.getMessage());
  }

  private List<String> received() {
    return h.received(GUEST);
  }

  @Test
  void badRequestsAre400AndReachNoAgent() {
    start(SimulatedAgent.Options.DEFAULTS, allow("command"));
    int before = received().size();
    // body not an object
    assertCode(400, "ping", new JsonArray().add(1));
    assertCode(400, "ping", "[1, 2]");
    assertCode(400, "ping", "not json");
    assertCode(400, "ping", 42);
    // bad or missing guest
    assertCode(400, "ping", new JsonObject());
    assertCode(400, "ping", body("../etc/passwd"));
    assertCode(400, "ping", body("-starts-with-dash"));
    assertCode(400, "ping", new JsonObject().put("guest", 7));
    assertCode(400, "ping", body("x".repeat(129)));
    // unknown field, unknown or ill-typed arguments, bad timeout
    assertCode(400, "ping", body(GUEST).put("bogus", true));
    assertCode(400, "ping", body(GUEST).put("autoThawMs", 100));
    assertCode(400, "fstrim", body(GUEST).put("arguments", new JsonObject().put("bogus", 1)));
    assertCode(400, "fstrim", body(GUEST).put("arguments", new JsonObject().put("minimum", "x")));
    assertCode(400, "fstrim", body(GUEST).put("arguments", "minimum=1"));
    assertCode(400, "shutdown", body(GUEST).put("arguments", new JsonObject().put("mode", "off")));
    assertCode(400, "set-user-password", body(GUEST).put("arguments",
        new JsonObject().put("username", "root")));
    assertCode(400, "ping", body(GUEST).put("timeoutMs", "soon"));
    assertCode(400, "ping", body(GUEST).put("timeoutMs", 0));
    // agent.command: malformed execute
    assertCode(400, "command", body(GUEST));
    assertCode(400, "command", body(GUEST).put("execute", 5));
    assertCode(400, "command", body(GUEST).put("execute", "rm -rf /"));
    assertCode(400, "command", body(GUEST).put("execute", "GUEST-PING"));
    assertCode(400, "command", body(GUEST).put("execute", "guest-sync-delimited"));
    // 400 wins over an unknown guest: the request is checked first
    assertCode(400, "fstrim", body("nope").put("arguments", new JsonObject().put("x", 1)));
    assertEquals(before, received().size(), "nothing reached the agent: " + received());
  }

  @Test
  void defaultPolicyForbidsCodeFilesAndCredentials() {
    start();
    int before = received().size();
    assertCode(403, "exec", body(GUEST).put("arguments", new JsonObject().put("path", "/bin/true")));
    assertCode(403, "exec-status", body(GUEST).put("arguments", new JsonObject().put("pid", 1)));
    assertCode(403, "file-open", body(GUEST).put("arguments", new JsonObject().put("path", "/etc/hosts")));
    assertCode(403, "file-read", body(GUEST).put("arguments", new JsonObject().put("handle", 1)));
    assertCode(403, "set-user-password", body(GUEST).put("arguments", new JsonObject()
        .put("username", "root").put("password", "c2VjcmV0").put("crypted", false)));
    assertCode(403, "ssh-add-authorized-keys", body(GUEST).put("arguments", new JsonObject()
        .put("username", "root").put("keys", new JsonArray().add("ssh-ed25519 AAAA"))));
    assertCode(403, "set-vcpus", body(GUEST).put("arguments", new JsonObject()
        .put("vcpus", new JsonArray())));
    assertCode(403, "run", body(GUEST).put("arguments", new JsonObject().put("path", "/bin/true")));
    assertCode(403, "file-get", body(GUEST).put("arguments", new JsonObject().put("path", "/etc/hosts")));
    assertCode(403, "command", body(GUEST).put("execute", "guest-ping"));
    assertEquals(before, received().size(), "nothing reached the agent: " + received());
    // what is not restricted goes through
    h.call("ping", body(GUEST));
    h.call("get-osinfo", body(GUEST));
  }

  @Test
  void passthroughStillAppliesThePolicyToTheCommandItExecutes() {
    start(SimulatedAgent.Options.DEFAULTS, allow("command"));
    int before = received().size();
    ReplyException e = h.failure("command", body(GUEST).put("execute", "guest-exec")
        .put("arguments", new JsonObject().put("path", "/bin/true")));
    assertEquals(403, e.failureCode());
    assertTrue(e.getMessage().contains("guest-exec"), e.getMessage());
    // with arguments that pass validation, which comes first (a 400 would hide the 403)
    assertCode(403, "command", body(GUEST).put("execute", "guest-set-user-password")
        .put("arguments", new JsonObject().put("username", "root").put("password", "eA==")
            .put("crypted", false)));
    assertCode(403, "command", body(GUEST).put("execute", "guest-file-open")
        .put("arguments", new JsonObject().put("path", "/etc/shadow")));
    assertEquals(before, received().size(), received().toString());
    // and what the default set allows passes
    assertEquals(new JsonObject(), h.call("command", body(GUEST).put("execute", "guest-ping"))
        .getJsonObject("return"));
    assertTrue(received().contains("guest-ping"));
  }

  @Test
  void unknownGuestIs404() {
    start();
    ReplyException e = h.failure("ping", body("nope"));
    assertEquals(404, e.failureCode());
    assertTrue(e.getMessage().contains("nope"), e.getMessage());
  }

  @Test
  void frozenGuestIs423() {
    start();
    h.call("fsfreeze-freeze", body(GUEST).put("autoThawMs", 0));
    assertCode(423, "get-osinfo", body(GUEST));
    assertCode(423, "fstrim", body(GUEST));
    h.call("fsfreeze-thaw", body(GUEST));
  }

  @Test
  void fullQueueIs429() {
    start(SimulatedAgent.Options.DEFAULTS.withWriter(Faults.delaying("guest-get-time", 600)),
        new JsonObject().put("link", new JsonObject().put("queueSize", 1)));
    List<Future<JsonObject>> replies = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      replies.add(h.request("get-time", body(GUEST)));
    }
    await(Future.join(new ArrayList<>(replies)).otherwiseEmpty());
    int ok = 0;
    int busy = 0;
    for (Future<JsonObject> r : replies) {
      if (r.succeeded()) {
        ok++;
      } else {
        ReplyException e = (ReplyException) r.cause();
        assertEquals(Codes.BUSY, e.failureCode(), e.getMessage());
        assertTrue(e.getMessage().contains("queue"), e.getMessage());
        busy++;
      }
    }
    // one in flight and one queued get through; the others find the queue full
    assertEquals(2, ok, "ok");
    assertEquals(3, busy, "busy");
    assertEquals(0, h.link(GUEST).queued());
  }

  @Test
  void blockedCommandIs501AndDisabledOnesAreRefusedLocally() {
    start(SimulatedAgent.Options.DEFAULTS.withBlocked("guest-get-osinfo", "guest-fstrim"),
        allow("command"));
    ReplyException e = h.failure("get-osinfo", body(GUEST));
    assertEquals(501, e.failureCode());
    assertTrue(e.getMessage().startsWith("CommandNotFound: "), e.getMessage());
    assertCode(501, "fstrim", body(GUEST));
    // a command this agent does not have at all, through the passthrough
    assertCode(501, "command", body(GUEST).put("execute", "guest-frobnicate"));
    assertFalse(received().contains("guest-get-osinfo"), received().toString());
    assertFalse(received().contains("guest-fstrim"), received().toString());
    assertFalse(received().contains("guest-frobnicate"), received().toString());
    h.call("get-host-name", body(GUEST));
  }

  @Test
  void agentErrorIs502WithClassAndDesc() {
    start();
    ReplyException e = h.failure("ssh-get-authorized-keys", body(GUEST)
        .put("arguments", new JsonObject().put("username", "nobody")));
    assertEquals(502, e.failureCode());
    assertEquals("GenericError: failed to get passwd entry for user 'nobody'", e.getMessage());
    assertTrue(received().contains("guest-ssh-get-authorized-keys"));
    // the link is fine afterwards
    h.call("ping", body(GUEST));
  }

  @Test
  void missingAgentSocketIs503WithinTheRequestsTime() {
    h.start(h.config(GUEST), new SimpleMeterRegistry());
    long start = System.nanoTime();
    ReplyException e = h.failure("ping", body(GUEST).put("timeoutMs", 400));
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertEquals(503, e.failureCode(), e.getMessage());
    assertTrue(ms >= 350 && ms < 3_000, "took " + ms + " ms");
    assertTrue(e.getMessage().contains("not connected"), e.getMessage());
  }

  @Test
  void noAnswerInTimeIs504AndTheLateReplyGoesToNobody() {
    start(SimulatedAgent.Options.DEFAULTS.withWriter(Faults.delaying("guest-get-timezone", 800)),
        new JsonObject());
    ReplyException e = h.failure("get-timezone", body(GUEST).put("timeoutMs", 200));
    assertEquals(504, e.failureCode(), e.getMessage());
    // the next request gets its own answer, not the timezone that comes late
    JsonObject next = h.call("get-host-name", body(GUEST)).getJsonObject("return");
    assertEquals(GUEST, next.getString("host-name"));
    assertTrue(h.events.stream().anyMatch(ev -> "resynced".equals(ev.getString("type"))
        && "timeout".equals(ev.getString("reason"))), h.events.toString());
  }

  @Test
  void shutdownRepliesSentAndTheLinkResyncs() {
    start();
    assertEquals(new JsonObject().put("sent", true), h.call("shutdown", body(GUEST)));
    assertTrue(received().contains("guest-shutdown"));
    GatewayHarness.waitFor("resync after no response", () -> h.events.stream()
        .anyMatch(ev -> "after-no-response".equals(ev.getString("reason"))));
    h.call("ping", body(GUEST));
  }

  @Test
  void auditLogNamesGuestCommandCallerOutcomeAndNoSecret() {
    List<LogRecord> audit = new CopyOnWriteArrayList<>();
    List<LogRecord> all = new CopyOnWriteArrayList<>();
    Handler auditHandler = recorder(audit);
    Handler rootHandler = recorder(all);
    Logger auditLogger = Logger.getLogger(Audit.LOGGER);
    Logger root = Logger.getLogger("");
    Logger ours = Logger.getLogger("io.qgagateway");
    Level auditLevel = auditLogger.getLevel();
    Level oursLevel = ours.getLevel();
    auditLogger.setLevel(Level.INFO);
    ours.setLevel(Level.ALL);
    auditLogger.addHandler(auditHandler);
    root.addHandler(rootHandler);
    try {
      start(SimulatedAgent.Options.DEFAULTS, allow("guest-set-user-password"));
      String secret = "c2VjcmV0";
      DeliveryOptions from = new DeliveryOptions().addHeader(GuestEndpoint.CALLER_HEADER, "backup-job");
      JsonObject args = new JsonObject().put("username", "root").put("password", secret)
          .put("crypted", false);
      await(h.request("set-user-password", body(GUEST).put("arguments", args), from));
      assertEquals("secret", await(h.agents.get(GUEST).context().<String>executeBlocking(
          () -> h.agents.get(GUEST).guest().password("root"), false)));
      // a failing one: the agent's message is in the audit line, the password is not
      failureOf(h.request("set-user-password", body(GUEST).put("arguments",
          args.copy().put("username", "nobody")), from));
      // a forbidden one is audited too
      failureOf(h.request("exec", body(GUEST).put("arguments",
          new JsonObject().put("path", "/bin/true").put("input-data", secret)), from));
      // reads are not audited
      h.call("get-osinfo", body(GUEST));

      GatewayHarness.waitFor("three audit records", () -> audit.size() >= 3);
      List<String> lines = audit.stream().map(LogRecord::getMessage).toList();
      assertEquals(3, lines.size(), lines.toString());
      String ok = lines.get(0);
      assertTrue(ok.contains("guest=" + GUEST), ok);
      assertTrue(ok.contains("command=guest-set-user-password"), ok);
      assertTrue(ok.contains("caller=backup-job"), ok);
      assertTrue(ok.contains("outcome=ok"), ok);
      assertTrue(lines.get(1).contains("outcome=agent_error"), lines.get(1));
      assertTrue(lines.get(2).contains("command=guest-exec") && lines.get(2).contains("outcome=forbidden"),
          lines.get(2));
      assertFalse(lines.stream().anyMatch(l -> l.contains("get-osinfo")), lines.toString());

      assertTrue(all.size() >= 3, "the root handler sees the records too");
      for (LogRecord r : all) {
        String text = r.getMessage() + " " + java.util.Arrays.toString(r.getParameters())
            + " " + (r.getThrown() == null ? "" : r.getThrown().toString());
        assertFalse(text.contains(secret), "secret in " + r.getLoggerName() + ": " + text);
        assertFalse(text.contains("secret"), "decoded secret in " + r.getLoggerName() + ": " + text);
      }
    } finally {
      auditLogger.removeHandler(auditHandler);
      root.removeHandler(rootHandler);
      auditLogger.setLevel(auditLevel);
      ours.setLevel(oursLevel);
    }
  }

  private static Handler recorder(List<LogRecord> into) {
    Handler handler = new Handler() {
      @Override
      public void publish(LogRecord record) {
        into.add(record);
      }

      @Override
      public void flush() {
      }

      @Override
      public void close() {
      }
    };
    handler.setLevel(Level.ALL);
    return handler;
  }
}
