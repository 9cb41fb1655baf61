package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every agent command of the catalog, through the whole gateway, against the simulated agent
 * with a policy that allows everything. A command added to the catalog without a case here
 * fails the test, so the table and the tests cannot drift apart.
 */
class CatalogCoverageTest {

  private static Vertx vertx;
  private static SimulatedAgent agent;
  private static Gateway gateway;

  @TempDir
  static Path dir;

  @BeforeAll
  static void start() throws Exception {
    vertx = TestVertx.create();
    String socket = dir.resolve("sim.sock").toString();
    agent = new SimulatedAgent(vertx, "sim");
    await(agent.listenUnix(socket));
    JsonObject config = new JsonObject()
        .put("guests", new JsonArray().add(new JsonObject().put("name", "sim")
            .put("socket", socket)))
        .put("http", new JsonObject().put("enabled", false))
        .put("libvirt", new JsonObject().put("enabled", false))
        .put("policy", new JsonObject().put("allow", new JsonArray().add("guest-*")
            .add("run").add("file-get").add("file-put").add("command")));
    gateway = await(Gateway.start(vertx, GatewayConfig.parse(config), new SimpleMeterRegistry(),
        new Health(false)));
    long deadline = System.currentTimeMillis() + 10_000;
    while (System.currentTimeMillis() < deadline) {
      try {
        request("ping", null);
        return;
      } catch (ReplyException e) {
        Thread.sleep(50);
      }
    }
    fail("simulated guest never became ready");
  }

  @AfterAll
  static void stop() throws Exception {
    await(gateway.stop());
    await(vertx.close());
  }

  /** Arguments per command; a Long value "HANDLE"/"PID" is filled from an earlier reply. */
  private static Map<String, JsonObject> cases() {
    Map<String, JsonObject> c = new LinkedHashMap<>();
    c.put("guest-ping", null);
    c.put("guest-info", null);
    c.put("guest-get-time", null);
    c.put("guest-set-time", new JsonObject());
    c.put("guest-get-osinfo", null);
    c.put("guest-get-host-name", null);
    c.put("guest-get-timezone", null);
    c.put("guest-get-users", null);
    c.put("guest-get-vcpus", null);
    c.put("guest-set-vcpus", new JsonObject().put("vcpus", new JsonArray()
        .add(new JsonObject().put("logical-id", 1).put("online", true))));
    c.put("guest-get-fsinfo", null);
    c.put("guest-get-disks", null);
    c.put("guest-get-memory-blocks", null);
    c.put("guest-set-memory-blocks", new JsonObject().put("mem-blks", new JsonArray()
        .add(new JsonObject().put("phys-index", 1).put("online", true))));
    c.put("guest-get-memory-block-info", null);
    c.put("guest-get-diskstats", null);
    c.put("guest-get-cpustats", null);
    c.put("guest-get-load", null);
    c.put("guest-network-get-interfaces", null);
    c.put("guest-network-get-route", null);
    c.put("guest-fstrim", new JsonObject().put("minimum", 0));
    c.put("guest-set-user-password", new JsonObject().put("username", "root")
        .put("password", "c2VjcmV0").put("crypted", false));
    c.put("guest-ssh-add-authorized-keys", new JsonObject().put("username", "root")
        .put("keys", new JsonArray().add("ssh-ed25519 AAAAC3 test")));
    c.put("guest-ssh-get-authorized-keys", new JsonObject().put("username", "root"));
    c.put("guest-ssh-remove-authorized-keys", new JsonObject().put("username", "root")
        .put("keys", new JsonArray().add("ssh-ed25519 AAAAC3 test")));
    c.put("guest-file-open", new JsonObject().put("path", "/tmp/coverage").put("mode", "w+"));
    c.put("guest-file-write", new JsonObject().put("handle", "HANDLE").put("buf-b64", "aGk="));
    c.put("guest-file-flush", new JsonObject().put("handle", "HANDLE"));
    c.put("guest-file-seek", new JsonObject().put("handle", "HANDLE").put("offset", 0)
        .put("whence", "set"));
    c.put("guest-file-read", new JsonObject().put("handle", "HANDLE"));
    c.put("guest-file-close", new JsonObject().put("handle", "HANDLE"));
    c.put("guest-exec", new JsonObject().put("path", "/bin/echo")
        .put("arg", new JsonArray().add("hi")).put("capture-output", true));
    c.put("guest-exec-status", new JsonObject().put("pid", "PID"));
    c.put("guest-fsfreeze-status", null);
    c.put("guest-fsfreeze-freeze", null);
    c.put("guest-fsfreeze-thaw", null);
    c.put("guest-fsfreeze-freeze-list", new JsonObject().put("mountpoints",
        new JsonArray().add("/")));
    c.put("guest-fsfreeze-thaw#2", null);
    c.put("guest-suspend-disk", null);
    c.put("guest-suspend-ram", null);
    c.put("guest-suspend-hybrid", null);
    c.put("guest-get-devices", null);
    c.put("guest-shutdown", new JsonObject().put("mode", "powerdown"));
    return c;
  }

  @Test
  void everyAgentCommandIsServed() throws Exception {
    CommandCatalog catalog = CommandCatalog.standard();
    Set<String> missing = new TreeSet<>();
    Map<String, JsonObject> cases = cases();
    for (CommandSpec spec : catalog.exposed()) {
      if (spec.kind() == CommandSpec.Kind.AGENT && !cases.containsKey(spec.name())) {
        missing.add(spec.name());
      }
    }
    assertTrue(missing.isEmpty(), "catalog commands without a coverage case: " + missing);

    Object handle = null;
    Object pid = null;
    List<String> failures = new ArrayList<>();
    for (Map.Entry<String, JsonObject> e : cases.entrySet()) {
      String name = e.getKey().replaceAll("#.*", "");
      CommandSpec spec = catalog.byName(name).orElseThrow();
      JsonObject args = e.getValue() == null ? null : e.getValue().copy();
      if (args != null && "HANDLE".equals(args.getValue("handle"))) {
        args.put("handle", handle);
      }
      if (args != null && "PID".equals(args.getValue("pid"))) {
        Thread.sleep(100);
        args.put("pid", pid);
      }
      JsonObject reply;
      try {
        reply = request(spec.suffix(), args);
      } catch (ReplyException ex) {
        // the simulated guest is Linux: guest-get-devices is Windows-only, as on a real agent
        if (name.equals("guest-get-devices") && ex.failureCode() == 501) {
          continue;
        }
        failures.add(name + " -> " + ex.failureCode() + " " + ex.getMessage());
        continue;
      }
      if (spec.successResponse()) {
        if (!reply.containsKey("return")) {
          failures.add(name + " -> no return: " + reply);
        }
      } else {
        assertEquals(new JsonObject().put("sent", true), reply, name);
      }
      if (name.equals("guest-file-open")) {
        handle = reply.getValue("return");
      } else if (name.equals("guest-exec")) {
        pid = reply.getJsonObject("return").getValue("pid");
      } else if (name.equals("guest-fsfreeze-freeze")) {
        assertEquals("frozen", request("fsfreeze-status", null).getValue("return"));
      }
    }
    assertTrue(failures.isEmpty(), String.join("\n", failures));
    Set<String> received = new TreeSet<>();
    agent.received().forEach(r -> received.add(r.getString("execute")));
    for (String name : cases.keySet()) {
      String command = name.replaceAll("#.*", "");
      if (!command.equals("guest-get-devices")) {
        assertTrue(received.contains(command), command + " never reached the agent");
      }
    }
  }

  private static JsonObject request(String suffix, JsonObject arguments) throws Exception {
    JsonObject body = new JsonObject().put("guest", "sim");
    if (arguments != null) {
      body.put("arguments", arguments);
    }
    try {
      return await(vertx.eventBus().<JsonObject>request("agent." + suffix, body)
          .map(m -> m.body()));
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ReplyException re) {
        throw re;
      }
      throw e;
    }
  }

  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
