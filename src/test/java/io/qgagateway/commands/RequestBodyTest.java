package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.auth.CommandClass;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequestBodyTest {

  private final CommandCatalog catalog = CommandCatalog.standard();

  private RequestBody parse(String suffix, Object body) {
    return RequestBody.parse(catalog, catalog.byAddress(suffix).orElseThrow(), body);
  }

  private String rejected(String suffix, Object body) {
    ReplyException e = assertThrows(ReplyException.class, () -> parse(suffix, body));
    assertEquals(Codes.BAD_REQUEST, e.failureCode());
    return e.getMessage();
  }

  @Test
  void fullEnvelope() {
    RequestBody r = parse("fstrim", new JsonObject(
        "{\"guest\": \"vm-42\", \"arguments\": {\"minimum\": 0}, \"timeoutMs\": 600000}"));
    assertEquals("vm-42", r.guest());
    assertEquals("guest-fstrim", r.execute());
    assertSame(r.spec(), r.target());
    assertEquals(new JsonObject().put("minimum", 0), r.arguments());
    assertEquals(600_000, r.timeoutMs());
    assertNull(r.autoThawMs());
    assertTrue(r.mutating());
    assertTrue(r.successResponse());
  }

  @Test
  void theClassesARequestNeeds() {
    JsonObject guest = new JsonObject().put("guest", "vm-1");
    assertEquals(List.of(CommandClass.FILESYSTEM), parse("fstrim", guest).classes());
    assertEquals(List.of(CommandClass.EXEC), parse("run", guest.copy()
        .put("arguments", new JsonObject().put("path", "/bin/true"))).classes());
    // a read-only open is file-read; any other mode may create or truncate: file-write
    for (String mode : new String[] {null, "r", "rb"}) {
      JsonObject args = new JsonObject().put("path", "/etc/hosts");
      if (mode != null) {
        args.put("mode", mode);
      }
      assertEquals(List.of(CommandClass.FILE_READ), parse("file-open", guest.copy()
          .put("arguments", args)).classes(), String.valueOf(mode));
    }
    assertEquals(List.of(CommandClass.FILE_WRITE), parse("file-open", guest.copy()
        .put("arguments", new JsonObject().put("path", "/x").put("mode", "r+"))).classes());
    // the passthrough needs its own class and the executed command's
    assertEquals(List.of(CommandClass.PASSTHROUGH, CommandClass.CREDENTIALS), parse("command",
        guest.copy().put("execute", "guest-ssh-get-authorized-keys")
            .put("arguments", new JsonObject().put("username", "root"))).classes());
    assertEquals(List.of(CommandClass.PASSTHROUGH, CommandClass.FILE_READ), parse("command",
        guest.copy().put("execute", "guest-file-open")
            .put("arguments", new JsonObject().put("path", "/x"))).classes());
    // a command the catalog does not know: passthrough only
    assertEquals(List.of(CommandClass.PASSTHROUGH), parse("command",
        guest.copy().put("execute", "guest-from-the-future")).classes());
  }

  @Test
  void everyRowHasOneClass() {
    for (CommandSpec spec : catalog.all()) {
      assertNotNull(spec.commandClass(), spec.name());
    }
    assertEquals(CommandClass.PASSTHROUGH, catalog.byName("command").orElseThrow().commandClass());
    assertEquals(CommandClass.FILE_WRITE, catalog.byName("file-put").orElseThrow().commandClass());
    assertEquals(CommandClass.FILE_READ, catalog.byName("file-get").orElseThrow().commandClass());
  }

  @Test
  void defaultsComeFromTheSpec() {
    RequestBody r = parse("ping", new JsonObject().put("guest", "vm-1"));
    assertEquals(new JsonObject(), r.arguments());
    assertEquals(3_000, r.timeoutMs());
    assertFalse(r.mutating());
    CommandCatalog tuned = catalog.withTimeouts(java.util.Map.of("guest-ping", 1_234L));
    assertEquals(1_234, RequestBody.parse(tuned, tuned.byAddress("ping").orElseThrow(),
        new JsonObject().put("guest", "vm-1")).timeoutMs());
    assertFalse(parse("shutdown", new JsonObject().put("guest", "vm-1")).successResponse());
  }

  @Test
  void bodyMustBeAJsonObject() {
    assertEquals("body: expected a JSON object, got array", rejected("ping", new JsonArray()));
    assertEquals("body: expected a JSON object, got null", rejected("ping", null));
    assertEquals("body: expected a JSON object, got integer", rejected("ping", "42"));
    assertEquals("body is not JSON", rejected("ping", "{guest"));
    assertEquals("body is not JSON", rejected("ping", Buffer.buffer("nope")));
    assertEquals("vm-1", parse("ping", "{\"guest\": \"vm-1\"}").guest());
    assertEquals("vm-1", parse("ping", Buffer.buffer("{\"guest\": \"vm-1\"}")).guest());
  }

  @Test
  void guestIsRequiredAndNamedProperly() {
    assertEquals("guest: missing required field", rejected("ping", new JsonObject()));
    assertEquals("guest: expected string, got integer",
        rejected("ping", new JsonObject().put("guest", 1)));
    assertTrue(rejected("ping", new JsonObject().put("guest", "-vm")).startsWith(
        "guest: invalid name '-vm'"));
    assertTrue(rejected("ping", new JsonObject().put("guest", "a b")).startsWith("guest:"));
    assertTrue(rejected("ping", new JsonObject().put("guest", "a".repeat(129)))
        .startsWith("guest:"));
    assertEquals("A.b_c-9", parse("ping", new JsonObject().put("guest", "A.b_c-9")).guest());
    assertEquals(128, parse("ping", new JsonObject().put("guest", "a".repeat(128))).guest()
        .length());
  }

  @Test
  void unknownTopLevelFields() {
    assertEquals("caller: unknown field (expected arguments, guest, timeoutMs)",
        rejected("ping", new JsonObject().put("guest", "vm-1").put("caller", "me")));
    assertEquals("autoThawMs: unknown field (only for fsfreeze-freeze and fsfreeze-freeze-list)",
        rejected("fsfreeze-thaw", new JsonObject().put("guest", "vm-1").put("autoThawMs", 5)));
    assertTrue(rejected("ping", new JsonObject().put("guest", "vm-1").put("execute", "x"))
        .startsWith("execute: unknown field"));
  }

  @Test
  void argumentsAreValidated() {
    assertEquals("arguments.foo: unknown argument of guest-fstrim", rejected("fstrim",
        new JsonObject().put("guest", "vm-1").put("arguments", new JsonObject().put("foo", 1))));
    assertEquals("arguments: expected object, got string",
        rejected("fstrim", new JsonObject().put("guest", "vm-1").put("arguments", "x")));
  }

  @Test
  void timeoutMs() {
    JsonObject body = new JsonObject().put("guest", "vm-1");
    assertEquals("timeoutMs: must be 1..86400000, got 0",
        rejected("ping", body.copy().put("timeoutMs", 0)));
    assertEquals("timeoutMs: must be 1..86400000, got -5",
        rejected("ping", body.copy().put("timeoutMs", -5)));
    assertEquals("timeoutMs: must be 1..86400000, got 86400001",
        rejected("ping", body.copy().put("timeoutMs", 86_400_001L)));
    assertEquals("timeoutMs: expected integer, got number",
        rejected("ping", body.copy().put("timeoutMs", 1.5)));
    assertEquals("timeoutMs: expected integer, got string",
        rejected("ping", body.copy().put("timeoutMs", "100")));
    assertEquals(86_400_000, parse("ping", body.copy().put("timeoutMs", 86_400_000L)).timeoutMs());
  }

  @Test
  void autoThawOnlyForFreezes() {
    JsonObject body = new JsonObject().put("guest", "vm-1");
    assertEquals(0L, parse("fsfreeze-freeze", body.copy().put("autoThawMs", 0)).autoThawMs());
    assertEquals(60_000L,
        parse("fsfreeze-freeze-list", body.copy().put("autoThawMs", 60_000)).autoThawMs());
    assertNull(parse("fsfreeze-freeze", body).autoThawMs());
    assertEquals("autoThawMs: must be 0..86400000, got -1",
        rejected("fsfreeze-freeze", body.copy().put("autoThawMs", -1)));
    assertEquals("autoThawMs: expected integer, got boolean",
        rejected("fsfreeze-freeze", body.copy().put("autoThawMs", false)));
  }

  @Test
  void passthrough() {
    RequestBody known = parse("command", new JsonObject("{\"guest\": \"vm-1\","
        + " \"execute\": \"guest-shutdown\", \"arguments\": {\"mode\": \"halt\"}}"));
    assertEquals("command", known.spec().name());
    assertEquals("guest-shutdown", known.execute());
    assertEquals("guest-shutdown", known.target().name());
    assertFalse(known.successResponse());
    assertTrue(known.mutating());
    assertEquals(10_000, known.timeoutMs());

    RequestBody readOnly = parse("command",
        new JsonObject().put("guest", "vm-1").put("execute", "guest-ping"));
    assertFalse(readOnly.mutating());
    assertEquals(3_000, readOnly.timeoutMs());

    RequestBody unknown = parse("command",
        new JsonObject().put("guest", "vm-1").put("execute", "guest-future-thing"));
    assertNull(unknown.target());
    assertTrue(unknown.mutating());
    assertTrue(unknown.successResponse());
    assertEquals(30_000, unknown.timeoutMs());

    RequestBody freeze = parse("command", new JsonObject().put("guest", "vm-1")
        .put("execute", "guest-fsfreeze-freeze").put("autoThawMs", 1000));
    assertEquals(1000L, freeze.autoThawMs());
  }

  @Test
  void passthroughArgumentsOfAKnownCommandAreCheckedAsOnItsOwnAddress() {
    JsonObject body = new JsonObject().put("guest", "vm-1").put("execute", "guest-ping");
    assertEquals("arguments.a: unknown argument of guest-ping",
        rejected("command", body.copy().put("arguments", new JsonObject().put("a", 1))));
    assertEquals("arguments.mode: expected one of \"halt\", \"powerdown\", \"reboot\", got \"sleep\"",
        rejected("command", body.copy().put("execute", "guest-shutdown")
            .put("arguments", new JsonObject().put("mode", "sleep"))));
    // what the catalog does not know stays unchecked
    assertEquals("guest-future", parse("command", body.copy().put("execute", "guest-future")
        .put("arguments", new JsonObject().put("a", 1))).execute());
  }

  @Test
  void passthroughExecuteIsChecked() {
    JsonObject body = new JsonObject().put("guest", "vm-1");
    assertEquals("execute: missing required field", rejected("command", body));
    assertEquals("execute: expected a command name like guest-info, got 'guest_info'",
        rejected("command", body.copy().put("execute", "guest_info")));
    assertEquals("execute: expected a command name like guest-info, got 'query-status'",
        rejected("command", body.copy().put("execute", "query-status")));
    assertEquals("execute: expected a command name like guest-info, got integer",
        rejected("command", body.copy().put("execute", 3)));
    assertEquals("execute: guest-sync is owned by the gateway; use agent.sync",
        rejected("command", body.copy().put("execute", "guest-sync")));
    assertEquals("execute: guest-sync-delimited is owned by the gateway; use agent.sync",
        rejected("command", body.copy().put("execute", "guest-sync-delimited")));
  }

  @Test
  void operations() {
    RequestBody run = parse("run", new JsonObject("{\"guest\": \"vm-1\","
        + " \"arguments\": {\"path\": \"/bin/true\"}}"));
    assertNull(run.execute());
    assertNull(run.target());
    assertTrue(run.mutating());
    assertEquals(60_000, run.timeoutMs());
    assertFalse(parse("file-get", new JsonObject("{\"guest\": \"vm-1\","
        + " \"arguments\": {\"path\": \"/etc/hosts\"}}")).mutating());
    assertEquals("vm-1", parse("sync", new JsonObject().put("guest", "vm-1")).guest());
    assertEquals("guest: missing required field", rejected("sync", new JsonObject()));
  }

  @Test
  void guestsTakesAnOptionalGuest() {
    assertNull(parse("guests", new JsonObject()).guest());
    assertEquals("vm-2", parse("guests", new JsonObject().put("guest", "vm-2")).guest());
    assertTrue(rejected("guests", new JsonObject().put("guest", "")).startsWith("guest:"));
  }
}
