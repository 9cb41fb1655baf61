package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PolicyTest {

  private final CommandCatalog catalog = CommandCatalog.standard();

  private static final Set<String> DEFAULT_DENIED = Set.of("guest-exec", "guest-exec-status",
      "guest-file-open", "guest-file-close", "guest-file-read", "guest-file-write",
      "guest-file-seek", "guest-file-flush", "guest-set-user-password",
      "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys", "guest-set-vcpus",
      "guest-set-memory-blocks", "run", "file-get", "file-put", "command");

  private Policy config(String json) {
    return Policy.fromConfig(catalog, new JsonObject(json));
  }

  private RequestBody request(String suffix, JsonObject body) {
    return RequestBody.parse(catalog, catalog.byAddress(suffix).orElseThrow(),
        body.put("guest", "vm-1"));
  }

  @Test
  void defaultSetIsTheContracts() {
    Policy policy = Policy.defaults(catalog);
    Set<String> denied = catalog.exposed().stream().map(CommandSpec::name)
        .filter(name -> !name.equals("guests") && !policy.allows(name))
        .collect(Collectors.toSet());
    assertEquals(DEFAULT_DENIED, denied);
    assertTrue(policy.allows("guest-shutdown"));
    assertTrue(policy.allows("guest-fsfreeze-freeze"));
    assertTrue(policy.allows("guest-ssh-get-authorized-keys"));
    assertTrue(policy.allows("sync"));
    assertFalse(policy.allows("guest-sync"));
    assertFalse(policy.allows("guest-sync-delimited"));
    assertEquals(Policy.defaults(catalog).allows("guest-exec"),
        Policy.fromConfig(catalog, null).allows("guest-exec"));
  }

  @Test
  void allowAddsAndDenyRemovesAndDenyWins() {
    Policy policy = config("{\"allow\": [\"guest-exec\", \"run\", \"guest-set-vcpus\"],"
        + " \"deny\": [\"guest-shutdown\", \"guest-set-vcpus\"]}");
    assertTrue(policy.allows("guest-exec"));
    assertTrue(policy.allows("run"));
    assertFalse(policy.allows("guest-exec-status"));
    assertFalse(policy.allows("guest-shutdown"));
    assertFalse(policy.allows("guest-set-vcpus"));
    assertTrue(policy.allows("guest-ping"));
  }

  @Test
  void prefixes() {
    Policy policy = config("{\"allow\": [\"guest-file-*\"], \"deny\": [\"guest-suspend-*\"]}");
    for (String f : List.of("open", "close", "read", "write", "seek", "flush")) {
      assertTrue(policy.allows("guest-file-" + f), f);
    }
    assertFalse(policy.allows("guest-suspend-ram"));
    assertFalse(policy.allows("guest-suspend-disk"));
    assertFalse(policy.allows("file-get"));
    assertTrue(Policy.of(catalog, List.of("*"), List.of()).allows("command"));
  }

  @Test
  void typosAreCaughtAtStartUp() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> config("{\"allow\": [\"guest-exce\"]}"));
    assertEquals("policy.allow: unknown command or operation 'guest-exce'", e.getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> config("{\"deny\": [\"exec\"]}")).getMessage().contains("'exec'"));
    assertThrows(IllegalArgumentException.class, () -> config("{\"deny\": [\"guest-nope-*\"]}"));
    assertThrows(IllegalArgumentException.class, () -> config("{\"allow\": [\"guest-sync\"]}"));
    assertThrows(IllegalArgumentException.class, () -> config("{\"allow\": [\"guests\"]}"));
    assertEquals("policy.alow: unknown key (allow, deny)", assertThrows(
        IllegalArgumentException.class, () -> config("{\"alow\": []}")).getMessage());
    assertEquals("policy.deny[1]: expected a name", assertThrows(IllegalArgumentException.class,
        () -> config("{\"deny\": [\"guest-ping\", 3]}")).getMessage());
    assertThrows(IllegalArgumentException.class, () -> config("{\"deny\": \"guest-ping\"}"));
  }

  @Test
  void forbiddenSaysWhatToChange() {
    ReplyException byDefault = Policy.defaults(catalog).forbidden("guest-exec", "vm-1");
    assertEquals(Codes.FORBIDDEN, byDefault.failureCode());
    assertEquals("policy forbids guest-exec for guest vm-1; allow it in policy.allow",
        byDefault.getMessage());
    assertEquals("policy forbids guest-shutdown for guest vm-1; it is in policy.deny",
        config("{\"deny\": [\"guest-shutdown\"]}").forbidden("guest-shutdown", "vm-1")
            .getMessage());
  }

  @Test
  void operationsAndTheirCommandsAreSeparateNames() {
    Policy runOnly = config("{\"allow\": [\"run\", \"file-get\"]}");
    assertTrue(runOnly.allows("run"));
    assertFalse(runOnly.allows("guest-exec"));
    assertFalse(runOnly.allows("guest-file-read"));
    Policy execOnly = config("{\"allow\": [\"guest-exec\", \"guest-exec-status\"]}");
    assertFalse(execOnly.allows("run"));
  }

  @Test
  void checkOfRequests() {
    Policy defaults = Policy.defaults(catalog);
    assertEquals(Optional.empty(), defaults.check(request("ping", new JsonObject())));
    assertEquals(Optional.empty(), defaults.check(RequestBody.parse(catalog,
        catalog.byAddress("guests").orElseThrow(), new JsonObject())));
    assertEquals("policy forbids run for guest vm-1; allow it in policy.allow",
        defaults.check(request("run", new JsonObject().put("arguments",
            new JsonObject().put("path", "/bin/true")))).orElseThrow().getMessage());
  }

  @Test
  void passthroughIsCheckedTwice() {
    JsonObject exec = new JsonObject().put("execute", "guest-exec")
        .put("arguments", new JsonObject().put("path", "/bin/true"));
    JsonObject ping = new JsonObject().put("execute", "guest-ping");
    assertEquals("policy forbids command for guest vm-1; allow it in policy.allow",
        Policy.defaults(catalog).check(request("command", ping.copy())).orElseThrow()
            .getMessage());
    Policy command = config("{\"allow\": [\"command\"]}");
    assertTrue(command.check(request("command", ping.copy())).isEmpty());
    assertEquals("policy forbids guest-exec for guest vm-1; allow it in policy.allow",
        command.check(request("command", exec.copy())).orElseThrow().getMessage());
    assertTrue(config("{\"allow\": [\"command\", \"guest-exec\"]}")
        .check(request("command", exec.copy())).isEmpty());
  }

  @Test
  void commandsTheCatalogDoesNotKnow() {
    Policy policy = config("{\"allow\": [\"command\"], \"deny\": [\"guest-get-*\"]}");
    assertTrue(policy.allows("guest-future-thing"));
    assertFalse(policy.allows("guest-get-future-stats"));
    assertEquals("policy forbids guest-get-future-stats for guest vm-1; it is in policy.deny",
        policy.forbidden("guest-get-future-stats", "vm-1").getMessage());
    assertFalse(policy.allows("not-a-command"));
    assertFalse(policy.allows("guests"));
  }

  @Test
  void configArraysMayComeAsJsonArrays() {
    Policy policy = Policy.fromConfig(catalog,
        new JsonObject().put("allow", new JsonArray().add("guest-exec")));
    assertTrue(policy.allows("guest-exec"));
  }
}
