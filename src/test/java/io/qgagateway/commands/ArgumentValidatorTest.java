package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArgumentValidatorTest {

  private final CommandCatalog catalog = CommandCatalog.standard();

  private JsonObject valid(String command, JsonObject arguments) {
    return ArgumentValidator.validate(catalog.byName(command).orElseThrow(), arguments);
  }

  private String rejected(String command, Object arguments) {
    ReplyException e = assertThrows(ReplyException.class,
        () -> ArgumentValidator.validate(catalog.byName(command).orElseThrow(), arguments));
    assertEquals(Codes.BAD_REQUEST, e.failureCode());
    return e.getMessage();
  }

  private static JsonObject json(String text) {
    return new JsonObject(text);
  }

  @Test
  void nullArgumentsAreEmpty() {
    assertEquals(new JsonObject(), valid("guest-ping", null));
    assertEquals(new JsonObject(), valid("guest-fstrim", null));
  }

  @Test
  void validArgumentsAreReturnedAsTheyAre() {
    JsonObject args = json("{\"minimum\": 4096}");
    assertSame(args, valid("guest-fstrim", args));
  }

  @Test
  void argumentsMustBeAnObject() {
    assertEquals("arguments: expected object, got array", rejected("guest-ping", new JsonArray()));
    assertEquals("arguments: expected object, got string", rejected("guest-ping", "x"));
  }

  @Test
  void unknownArgument() {
    assertEquals("arguments.foo: unknown argument of guest-fstrim",
        rejected("guest-fstrim", json("{\"foo\": 1}")));
    assertEquals("arguments.x: unknown argument of guest-ping",
        rejected("guest-ping", json("{\"x\": true}")));
  }

  @Test
  void missingRequiredArgument() {
    assertEquals("arguments.path: missing required argument of guest-file-open",
        rejected("guest-file-open", json("{\"mode\": \"r\"}")));
    assertEquals("arguments.crypted: missing required argument of guest-set-user-password",
        rejected("guest-set-user-password", json("{\"username\": \"a\", \"password\": \"b\"}")));
  }

  @Test
  void integers() {
    valid("guest-set-time", json("{\"time\": 1700000000000000000}"));
    valid("guest-exec-status", new JsonObject().put("pid", 12));
    assertEquals("arguments.minimum: expected integer >= 0, got string",
        rejected("guest-fstrim", json("{\"minimum\": \"1\"}")));
    assertEquals("arguments.time: expected integer, got number",
        rejected("guest-set-time", json("{\"time\": 1.5}")));
    assertEquals("arguments.time: expected integer, got number",
        rejected("guest-set-time", json("{\"time\": 1.0}")));
    assertEquals("arguments.time: expected integer, got boolean",
        rejected("guest-set-time", json("{\"time\": true}")));
    assertEquals("arguments.time: expected integer, got null",
        rejected("guest-set-time", json("{\"time\": null}")));
    assertEquals("arguments.time: expected integer, got integer out of 64-bit range",
        rejected("guest-set-time", new JsonObject().put("time", BigInteger.TEN.pow(20))));
    assertEquals("arguments.minimum: expected integer >= 0, got -1",
        rejected("guest-fstrim", json("{\"minimum\": -1}")));
  }

  @Test
  void booleansAreStrict() {
    valid("guest-ssh-add-authorized-keys",
        json("{\"username\": \"u\", \"keys\": [], \"reset\": false}"));
    assertEquals("arguments.reset: expected boolean, got string",
        rejected("guest-ssh-add-authorized-keys",
            json("{\"username\": \"u\", \"keys\": [], \"reset\": \"true\"}")));
    assertEquals("arguments.crypted: expected boolean, got integer",
        rejected("guest-set-user-password",
            json("{\"username\": \"u\", \"password\": \"cA==\", \"crypted\": 0}")));
  }

  @Test
  void strings() {
    assertEquals("arguments.path: expected string, got integer",
        rejected("guest-file-open", json("{\"path\": 7}")));
  }

  @Test
  void arraysOfStrings() {
    valid("guest-fsfreeze-freeze-list", json("{\"mountpoints\": [\"/\", \"/var\"]}"));
    valid("guest-fsfreeze-freeze-list", new JsonObject().put("mountpoints", List.of("/")));
    assertEquals("arguments.mountpoints: expected array of string, got string",
        rejected("guest-fsfreeze-freeze-list", json("{\"mountpoints\": \"/\"}")));
    assertEquals("arguments.keys[1]: expected string, got integer",
        rejected("guest-ssh-add-authorized-keys",
            json("{\"username\": \"u\", \"keys\": [\"ssh-ed25519 AAA\", 2]}")));
  }

  @Test
  void arraysOfObjectsAreCheckedRecursively() {
    valid("guest-set-vcpus", json("{\"vcpus\": [{\"logical-id\": 0, \"online\": true},"
        + " {\"logical-id\": 1, \"online\": false, \"can-offline\": true}]}"));
    valid("guest-set-vcpus", new JsonObject().put("vcpus",
        List.of(Map.of("logical-id", 2, "online", true))));
    assertEquals("arguments.vcpus[1].online: missing required field",
        rejected("guest-set-vcpus", json("{\"vcpus\": [{\"logical-id\": 0, \"online\": true},"
            + " {\"logical-id\": 1}]}")));
    assertEquals("arguments.vcpus[0].logical-id: expected integer, got string",
        rejected("guest-set-vcpus", json("{\"vcpus\": [{\"logical-id\": \"0\", \"online\": true}]}")));
    assertEquals("arguments.vcpus[0].speed: unknown field",
        rejected("guest-set-vcpus", json("{\"vcpus\": [{\"logical-id\": 0, \"online\": true,"
            + " \"speed\": 1}]}")));
    assertEquals("arguments.vcpus[0]: expected object, got integer",
        rejected("guest-set-vcpus", json("{\"vcpus\": [0]}")));
    assertEquals("arguments.mem-blks[0].can-offline: expected boolean, got string",
        rejected("guest-set-memory-blocks", json("{\"mem-blks\": [{\"phys-index\": 3,"
            + " \"online\": true, \"can-offline\": \"no\"}]}")));
    assertEquals("arguments.mem-blks[0].phys-index: expected integer >= 0, got -3",
        rejected("guest-set-memory-blocks",
            json("{\"mem-blks\": [{\"phys-index\": -3, \"online\": true}]}")));
  }

  @Test
  void enums() {
    for (String mode : List.of("halt", "powerdown", "reboot")) {
      valid("guest-shutdown", new JsonObject().put("mode", mode));
    }
    assertEquals("arguments.mode: expected one of \"halt\", \"powerdown\", \"reboot\", got \"stop\"",
        rejected("guest-shutdown", json("{\"mode\": \"stop\"}")));
    assertEquals("arguments.mode: expected one of \"halt\", \"powerdown\", \"reboot\", got integer",
        rejected("guest-shutdown", json("{\"mode\": 1}")));
  }

  @Test
  void unionOfIntegerAndEnum() {
    for (Object whence : List.of(0, 2L, "set", "cur", "end")) {
      valid("guest-file-seek",
          new JsonObject().put("handle", 1).put("offset", 0).put("whence", whence));
    }
    assertEquals("arguments.whence: expected integer or one of \"set\", \"cur\", \"end\","
            + " got \"start\"",
        rejected("guest-file-seek", json("{\"handle\": 1, \"offset\": 0, \"whence\": \"start\"}")));
    assertEquals("arguments.whence: expected integer or one of \"set\", \"cur\", \"end\","
            + " got number",
        rejected("guest-file-seek", json("{\"handle\": 1, \"offset\": 0, \"whence\": 0.5}")));
  }

  @Test
  void unionOfBooleanAndEnum() {
    for (Object capture : List.of(true, false, "none", "stdout", "stderr", "separated", "merged")) {
      valid("guest-exec", new JsonObject().put("path", "/bin/true").put("capture-output", capture));
    }
    String message = rejected("guest-exec",
        json("{\"path\": \"/bin/true\", \"capture-output\": \"both\"}"));
    assertTrue(message.startsWith("arguments.capture-output: expected boolean or one of"), message);
    assertTrue(message.endsWith("got \"both\""), message);
  }

  @Test
  void gatewayOperations() {
    valid("run", json("{\"path\": \"/bin/ls\", \"arg\": [\"-l\"], \"env\": [\"A=1\"],"
        + " \"input\": \"hi\"}"));
    valid("run", json("{\"path\": \"/bin/ls\", \"input-b64\": \"aGk=\"}"));
    assertEquals("arguments.input-b64: not allowed together with arguments.input",
        rejected("run", json("{\"path\": \"/bin/cat\", \"input\": \"a\", \"input-b64\": \"YQ==\"}")));
    assertEquals("arguments.capture-output: unknown argument of run",
        rejected("run", json("{\"path\": \"/bin/ls\", \"capture-output\": true}")));
    assertEquals("arguments.maxBytes: expected integer >= 1, got 0",
        rejected("file-get", json("{\"path\": \"/etc/hosts\", \"maxBytes\": 0}")));
    valid("file-put", json("{\"path\": \"/tmp/x\", \"content-b64\": \"\", \"mode\": \"a\"}"));
    assertEquals("arguments.mode: expected one of \"w\", \"a\", got \"r\"",
        rejected("file-put", json("{\"path\": \"/tmp/x\", \"content-b64\": \"\", \"mode\": \"r\"}")));
    assertEquals("arguments.content-b64: missing required argument of file-put",
        rejected("file-put", json("{\"path\": \"/tmp/x\"}")));
  }

  @Test
  void passthroughArgumentsAreFree() {
    JsonObject anything = json("{\"whatever\": [1, {\"a\": null}]}");
    assertSame(anything, valid("command", anything));
    assertEquals("arguments: expected object, got integer", rejected("command", 5));
  }

  @Test
  void unknownComesBeforeMissing() {
    assertEquals("arguments.pth: unknown argument of guest-file-open",
        rejected("guest-file-open", json("{\"pth\": \"/x\"}")));
  }
}
