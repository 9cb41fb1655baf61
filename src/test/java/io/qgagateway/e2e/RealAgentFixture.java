package io.qgagateway.e2e;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.demo.HostAgent;
import io.qgagateway.http.Health;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A real, sandboxed {@code qemu-ga} (see {@link HostAgent}) in a temporary directory and a whole
 * gateway on an ephemeral HTTP port with that agent as guest {@value #GUEST}. Blocking: use it
 * from the test thread, never from an event loop.
 */
final class RealAgentFixture implements AutoCloseable {

  static final String GUEST = "host";

  private final Vertx vertx;
  private final Path directory;
  private final HostAgent agent;
  private final Gateway gateway;

  private RealAgentFixture(Vertx vertx, Path directory, HostAgent agent, Gateway gateway) {
    this.vertx = vertx;
    this.directory = directory;
    this.agent = agent;
    this.gateway = gateway;
  }

  /**
   * Skips the calling test when qemu-ga is not installed, except on CI ({@code CI=true}), where
   * a missing agent means the machine was not set up, and the test fails saying so.
   */
  static void requireQemuGa() {
    requireQemuGa(HostAgent.find(), System.getenv("CI"));
  }

  static void requireQemuGa(Optional<Path> installed, String ciEnv) {
    if (installed.isPresent()) {
      return;
    }
    String message = "qemu-ga is not installed; run .ci/setup to install qemu-guest-agent";
    if ("true".equalsIgnoreCase(ciEnv)) {
      fail(message + " (CI=true: real-agent tests must not be skipped)");
    }
    assumeTrue(false, message + "; skipping the real-agent tests");
  }

  /**
   * Starts qemu-ga in {@code directory}/agent and a gateway with it as guest {@value #GUEST},
   * then waits until the guest is ready. {@code extraConfig} is merged (deeply) into the
   * gateway's configuration, e.g. a policy.
   */
  static RealAgentFixture start(Vertx vertx, Path directory, boolean allowExecAndFiles,
                                JsonObject extraConfig) throws Exception {
    requireQemuGa();
    HostAgent agent = HostAgent.start(directory.resolve("agent"), allowExecAndFiles, List.of());
    Gateway gateway;
    try {
      JsonObject config = baseConfig(new JsonArray().add(new JsonObject().put("name", GUEST)
          .put("socket", agent.socket().toString())));
      config.mergeIn(extraConfig, true);
      gateway = startGateway(vertx, config);
    } catch (Exception | Error e) {
      agent.stop();
      throw e;
    }
    RealAgentFixture fixture = new RealAgentFixture(vertx, directory, agent, gateway);
    try {
      fixture.awaitReady(15_000);
    } catch (Exception | Error e) {
      fixture.close();
      throw e;
    }
    return fixture;
  }

  /** The configuration every e2e gateway starts from: loopback, ephemeral port, short drain. */
  static JsonObject baseConfig(JsonArray guests) {
    return new JsonObject()
        .put("node", new JsonObject().put("name", "e2e"))
        .put("guests", guests)
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("shutdown", new JsonObject().put("drainMs", 1000))
        .put("libvirt", new JsonObject().put("enabled", false));
  }

  static Gateway startGateway(Vertx vertx, JsonObject config) throws Exception {
    return Gateway.start(vertx, GatewayConfig.parse(config),
        new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), new Health(false))
        .await(30, TimeUnit.SECONDS);
  }

  Vertx vertx() {
    return vertx;
  }

  HostAgent agent() {
    return agent;
  }

  Gateway gateway() {
    return gateway;
  }

  /** The temporary directory; the agent's own files are in its "agent" subdirectory. */
  Path directory() {
    return directory;
  }

  int httpPort() {
    return gateway.httpPort();
  }

  /** This guest's entry of agent.guests. */
  JsonObject describe() throws Exception {
    return Bus.ok(vertx, "agent.guests", new JsonObject().put("guest", GUEST))
        .getJsonArray("guests").getJsonObject(0);
  }

  /** Waits until the guest is ready and the gateway has read the agent's guest-info. */
  JsonObject awaitReady(long timeoutMs) throws Exception {
    try {
      return Bus.awaitReady(vertx, GUEST, timeoutMs);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; agent log: " + agentLog(), e);
    }
  }

  String agentLog() {
    try {
      Path log = directory.resolve("agent").resolve("qemu-ga.log");
      return Files.exists(log) ? Files.readString(log) : "(none)";
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }

  /** Stops the gateway first, so it never leaves the agent with a reply unread, then the agent. */
  @Override
  public void close() throws Exception {
    try {
      gateway.stop().await(30, TimeUnit.SECONDS);
    } finally {
      agent.stop();
    }
  }
}
