package io.qgagateway;

import io.qgagateway.demo.HostAgent;
import io.qgagateway.testing.GatewayProcess;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.qgagateway.testing.GatewayProcess.awaitHttpPort;
import static io.qgagateway.testing.GatewayProcess.tail;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The README's run command as a new user runs it: the jar on the repository's own
 * conf/config.yaml answers for the demo guests, the real host qemu-ga among them, and stops
 * cleanly on SIGTERM, taking its qemu-ga with it. A configuration typo, or a certificate file
 * it cannot read, stops it at once with exit code 2 and the key named.
 */
class FirstRunProcessIT {

  @TempDir
  Path dir;

  private final HttpClient http = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(2)).build();
  private final List<Process> processes = new ArrayList<>();

  @AfterEach
  void tearDown() throws InterruptedException {
    for (Process p : processes) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void theDefaultConfigurationShowsTheGatewayWorking() throws Exception {
    boolean hostAgent = HostAgent.find().isPresent();
    if (!hostAgent && "true".equals(System.getenv("CI"))) {
      fail("qemu-ga is not installed: run .ci/setup (installs Debian's qemu-guest-agent)");
    }
    Path log = dir.resolve("gateway.log");
    Process gateway = start(log, "conf/config.yaml");
    int port = awaitHttpPort(gateway, log);

    Set<String> expected = hostAgent ? Set.of("host", "sim-1", "sim-2") : Set.of("sim-1", "sim-2");
    long deadline = System.currentTimeMillis() + 30_000;
    Set<String> ready = Set.of();
    while (!ready.equals(expected) && System.currentTimeMillis() < deadline) {
      JsonArray guests = new JsonObject(get(port, "/v1/guests").body()).getJsonArray("guests");
      ready = guests.stream().map(g -> (JsonObject) g)
          .filter(g -> "ready".equals(g.getString("state")))
          .map(g -> g.getString("name")).collect(Collectors.toSet());
      Thread.sleep(100);
    }
    assertEquals(expected, ready, "demo guests ready" + tail(log));
    for (String guest : expected) {
      HttpResponse<String> ping = post(port, "/v1/guests/" + guest + "/commands/ping");
      assertEquals(200, ping.statusCode(), guest + ": " + ping.body());
      assertEquals(new JsonObject().put("return", new JsonObject()), new JsonObject(ping.body()));
    }
    if (hostAgent) {
      HttpResponse<String> trim = post(port, "/v1/guests/host/commands/fstrim");
      assertEquals(501, trim.statusCode(), "dangerous commands are blocked on the host agent");
    }
    assertEquals(200, get(port, "/health/ready").statusCode());
    assertTrue(get(port, "/metrics").body().contains("qga_guests{state=\"ready\"}"));

    List<ProcessHandle> children = gateway.descendants().collect(Collectors.toList());
    gateway.destroy(); // SIGTERM
    assertTrue(gateway.waitFor(30, TimeUnit.SECONDS), "stops on SIGTERM" + tail(log));
    for (ProcessHandle child : children) {
      assertTrue(waitGone(child), "child " + child.pid() + " (qemu-ga) stopped with the gateway");
    }
    assertTrue(Files.readString(log).contains("stopping:"), tail(log));
  }

  @Test
  void aTypoInTheConfigurationStopsTheStartWithTheKeyNamed() throws Exception {
    Path config = dir.resolve("typo.yaml");
    Files.writeString(config, "http:\n  prot: 8080\n");
    Path log = dir.resolve("typo.log");
    Process gateway = start(log, config.toString());
    assertTrue(gateway.waitFor(60, TimeUnit.SECONDS), "exits" + tail(log));
    assertEquals(2, gateway.exitValue(), tail(log));
    assertTrue(Files.readString(log).contains("http.prot: unknown key"), tail(log));
  }

  @Test
  void aMissingCertificateOrKeyFileStopsTheStartWithTheKeyNamed() throws Exception {
    Path missing = dir.resolve("no-such.crt");
    Map<String, String> keyOf = new LinkedHashMap<>();
    keyOf.put("http:\n  tls: {cert: " + missing + ", key: " + missing + "}\n", "http.tls.cert");
    keyOf.put("http: {enabled: false}\ncluster:\n  enabled: true\n  tls: {cert: " + missing
        + ", key: " + missing + ", ca: " + missing + "}\n", "cluster.tls.cert");
    keyOf.put("auth:\n  jwt: {issuer: https://idp.test, audience: [qga], publicKeyFile: "
        + missing + "}\n", "auth.jwt.publicKeyFile");
    for (Map.Entry<String, String> c : keyOf.entrySet()) {
      Path config = dir.resolve("files.yaml");
      Files.writeString(config, c.getKey());
      Path log = dir.resolve("files-" + processes.size() + ".log");
      Process gateway = start(log, config.toString());
      assertTrue(gateway.waitFor(60, TimeUnit.SECONDS), "exits" + tail(log));
      assertEquals(2, gateway.exitValue(), tail(log));
      assertTrue(Files.readString(log).contains("configuration error: " + c.getValue()
          + ": cannot read " + missing), tail(log));
    }
  }

  private Process start(Path log, String config) throws IOException {
    ProcessBuilder builder = new ProcessBuilder("java", "-jar", GatewayProcess.jar().toString(),
        "--config", config)
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().put("QGA_HTTP_PORT", "0");
    Process p = builder.start();
    processes.add(p);
    return p;
  }

  private static boolean waitGone(ProcessHandle child) {
    try {
      child.onExit().get(10, TimeUnit.SECONDS);
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private HttpResponse<String> get(int port, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(port, path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> post(int port, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(port, path))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static URI uri(int port, String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

}
