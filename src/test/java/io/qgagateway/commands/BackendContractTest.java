package io.qgagateway.commands;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.api.Codes;
import io.qgagateway.libvirt.Hypervisor.DomainState;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.FakeHypervisor;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.Base64;
import java.util.Random;

import static io.qgagateway.testing.GatewayHarness.await;
import static io.qgagateway.testing.GatewayHarness.body;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layers above the channel (validation, policy, audit, freeze leases, run and file
 * operations, passthrough, error codes) once for every backend: the same simulated agent behind
 * the gateway's own socket, and behind a fake libvirt that holds the agent's socket as libvirtd
 * does and hands each command on as {@code virDomainQemuAgentCommand} would.
 */
class BackendContractTest {

  enum Backend {
    SOCKET, LIBVIRT
  }

  static final String GUEST = "vm-contract";

  @TempDir
  Path dir;
  Vertx vertx;
  GatewayHarness h;
  SimulatedAgent agent;

  private void start(Backend backend) {
    vertx = TestVertx.create();
    h = new GatewayHarness(vertx, dir);
    agent = h.agent(GUEST, SimulatedAgent.Options.DEFAULTS);
    JsonObject policy = new JsonObject().put("allow", new JsonArray().add("run").add("file-get")
        .add("file-put").add("command").add("guest-file-open"));
    if (backend == Backend.SOCKET) {
      h.start(h.config(GUEST).put("policy", policy), new SimpleMeterRegistry());
    } else {
      FakeHypervisor libvirt = new FakeHypervisor();
      libvirt.add(GUEST, DomainState.RUNNING, FakeHypervisor.socketAgent(h.socket(GUEST)));
      h.start(h.config().put("policy", policy)
          .put("libvirt", new JsonObject().put("enabled", true)), new SimpleMeterRegistry(),
          libvirt);
    }
    h.awaitReady(GUEST);
  }

  @AfterEach
  void stop() {
    if (h != null) {
      h.close();
      await(vertx.close());
    }
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void aReadCommandAnswersWithExactlyWhatTheAgentReturned(Backend backend) {
    start(backend);
    JsonObject reply = h.call("get-host-name", body(GUEST));
    assertEquals(new JsonObject().put("return", new JsonObject().put("host-name", GUEST)), reply);
    assertEquals(GUEST, h.call("command", body(GUEST).put("execute", "guest-get-host-name"))
        .getJsonObject("return").getString("host-name"));
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void badArgumentsAndForbiddenCommandsNeverReachTheAgent(Backend backend) {
    start(backend);
    int before = agent.received().size();
    ReplyException bad = h.failure("fstrim", body(GUEST).put("arguments",
        new JsonObject().put("minimun", 1)));
    assertEquals(Codes.BAD_REQUEST, bad.failureCode());
    ReplyException forbidden = h.failure("set-user-password", body(GUEST).put("arguments",
        new JsonObject().put("username", "root").put("password", "eA==").put("crypted", false)));
    assertEquals(Codes.FORBIDDEN, forbidden.failureCode());
    assertEquals(before, agent.received().size());
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void anAgentErrorKeepsItsClass(Backend backend) {
    start(backend);
    ReplyException e = h.failure("command", body(GUEST).put("execute", "guest-file-open")
        .put("arguments", new JsonObject().put("path", "/nonexistent/file")));
    assertEquals(Codes.AGENT_ERROR, e.failureCode());
    assertEquals("GenericError: failed to open file '/nonexistent/file' (mode: 'r'): No such "
        + "file or directory", e.getMessage());
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void aFreezeIsRefusedCommandsUntilTheGatewayThawsItWhenTheLeaseEnds(Backend backend) {
    start(backend);
    h.call("fsfreeze-freeze", body(GUEST).put("autoThawMs", 400));
    assertTrue(agent.guest().frozen());
    assertEquals(Codes.FROZEN, h.failure("get-osinfo", body(GUEST)).failureCode());
    waitFor("auto-thawed", () -> h.eventTypes(GUEST).contains("auto-thawed"));
    assertTrue(!agent.guest().frozen());
    h.call("get-osinfo", body(GUEST));
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void runWaitsForTheProcessAndReturnsItsOutput(Backend backend) {
    start(backend);
    JsonObject run = h.call("run", body(GUEST).put("arguments", new JsonObject()
        .put("path", "/bin/echo").put("arg", new JsonArray().add("hello").add("world"))))
        .getJsonObject("return");
    assertEquals(0, run.getInteger("exitcode"));
    assertEquals("hello world\n", run.getString("stdout"));
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void aFileWrittenWholeIsReadBackWhole(Backend backend) {
    start(backend);
    byte[] content = new byte[300_000];
    new Random(7).nextBytes(content);
    String b64 = Base64.getEncoder().encodeToString(content);
    assertEquals(content.length, h.call("file-put", body(GUEST).put("arguments", new JsonObject()
        .put("path", "/tmp/contract.bin").put("content-b64", b64)))
        .getJsonObject("return").getInteger("size"));
    assertEquals(b64, h.call("file-get", body(GUEST).put("arguments", new JsonObject()
        .put("path", "/tmp/contract.bin"))).getJsonObject("return").getString("content-b64"));
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void aResyncAnswersWithItsRoundTrip(Backend backend) {
    start(backend);
    assertTrue(h.call("sync", body(GUEST)).getJsonObject("return").getLong("rttMicros") >= 0);
  }
}
