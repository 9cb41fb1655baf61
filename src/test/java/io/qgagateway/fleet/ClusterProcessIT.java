package io.qgagateway.fleet;

import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Two gateway processes started from the shaded jar ({@code java -jar target/qga-gateway.jar
 * --config F --cluster}) as an operator would, clustered over loopback TCP-IP on ports of their
 * own. Their guests are simulated agents in this JVM. Runs in {@code mvn verify}, after
 * {@code package} has built the jar (maven-failsafe-plugin).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ClusterProcessIT {

  private static final Duration START = Duration.ofSeconds(45);

  @TempDir
  Path dir;

  private final HttpClient http = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(2)).build();
  private final List<Process> processes = new ArrayList<>();
  // referenced, or Vert.x 5.1 closes their servers on GC
  private final List<SimulatedAgent> agents = new ArrayList<>();
  private Vertx vertx;
  private Path jar;

  /** A started gateway process and where it answers HTTP. */
  private record Node(String name, Process process, int httpPort, Path log) {
  }

  @BeforeEach
  void setUp() {
    jar = Path.of(System.getProperty("qga.jar", "target/qga-gateway.jar")).toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      fail("no gateway jar at " + jar + ": build it first (mvn -B package -DskipTests), or run "
          + "this test through mvn verify, which packages before integration-test");
    }
    vertx = TestVertx.create();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (Process p : processes) {
      p.destroy();
    }
    for (Process p : processes) {
      if (!p.waitFor(15, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    }
    if (vertx != null) {
      await(vertx.close());
    }
  }

  /** Starts processes one (guest one-1) and two (guest two-1) and waits until both are ready. */
  private Node[] startPair() throws Exception {
    int hz1 = TestPorts.free();
    int hz2 = TestPorts.free();
    List<String> members = List.of("127.0.0.1:" + hz1, "127.0.0.1:" + hz2);
    for (String guest : List.of("one-1", "two-1")) {
      SimulatedAgent agent = new SimulatedAgent(vertx, guest);
      agents.add(agent);
      await(agent.listenUnix(dir.resolve(guest + ".sock").toString()));
    }
    Node one = start("one", hz1, members, "one-1");
    Node two = start("two", hz2, members, "two-1");
    return new Node[] {awaitReady(one), awaitReady(two)};
  }

  @Test
  void processesRouteToEachOthersGuestsAndForgetAKilledOne() throws Exception {
    Node[] pair = startPair();
    Node one = pair[0];
    Node two = pair[1];

    // process one answers for process two's guest once two's announcement is in
    HttpResponse<String> ping = eventually(one, "ping two-1 through one",
        () -> post(one, "/v1/guests/two-1/commands/ping"), r -> r.statusCode() == 200);
    assertEquals(new JsonObject().put("return", new JsonObject()), new JsonObject(ping.body()));
    HttpResponse<String> name = post(one, "/v1/guests/two-1/commands/get-host-name");
    assertEquals(200, name.statusCode(), name.body());
    assertEquals("two-1", new JsonObject(name.body()).getJsonObject("return")
        .getString("host-name"));
    assertEquals(200, post(two, "/v1/guests/one-1/commands/ping").statusCode());

    HttpResponse<String> listed = eventually(one, "both guests ready in GET /v1/guests",
        () -> get(one, "/v1/guests"), r -> r.statusCode() == 200
            && readyNames(r).equals(List.of("one-1", "two-1")));
    JsonArray guests = new JsonObject(listed.body()).getJsonArray("guests");
    Set<String> nodes = new HashSet<>();
    guests.forEach(g -> nodes.add(((JsonObject) g).getString("node")));
    assertEquals(2, nodes.size(), "two node ids: " + guests.encode());
    assertEquals(Set.of("one", "two"), guests.stream()
        .map(g -> ((JsonObject) g).getString("nodeName")).collect(Collectors.toSet()));

    // kill -9: no leaving announcement, no graceful Hazelcast leave
    long killed = System.currentTimeMillis();
    two.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    HttpResponse<String> gone = eventually(one, "two-1 gone after kill -9",
        () -> post(one, "/v1/guests/two-1/commands/ping?timeoutMs=2000"), r -> {
          assertTrue(List.of(404, 503, 504).contains(r.statusCode()),
              "during the loss of two: " + r.statusCode() + " " + r.body());
          // one's own guest is not held up by the dead member meanwhile
          long asked = System.currentTimeMillis();
          HttpResponse<String> own = unchecked(() ->
              post(one, "/v1/guests/one-1/commands/ping?timeoutMs=2000"));
          assertEquals(200, own.statusCode(), "one-1 while two is dead: " + own.body());
          assertTrue(System.currentTimeMillis() - asked < 2_000, "one-1 answered slowly");
          return r.statusCode() == 404;
        });
    assertEquals(404, new JsonObject(gone.body()).getJsonObject("error").getInteger("code"));
    long took = System.currentTimeMillis() - killed;
    System.out.println("ClusterProcessIT: two-1 answered 404 " + took + " ms after kill -9");
    assertTrue(took < 20_000, "two-1 forgotten after " + took + " ms");
    assertEquals(List.of("one-1"), readyNames(get(one, "/v1/guests")));
    assertEquals(200, post(one, "/v1/guests/one-1/commands/ping").statusCode());
  }

  @Test
  void aProcessStoppedWithSigtermLeavesCleanly() throws Exception {
    Node[] pair = startPair();
    Node one = pair[0];
    Node two = pair[1];
    eventually(one, "ping two-1 through one",
        () -> post(one, "/v1/guests/two-1/commands/ping"), r -> r.statusCode() == 200);

    // SIGTERM: Main's shutdown hook drains, says it leaves, leaves Hazelcast and exits
    long stopped = System.currentTimeMillis();
    two.process().destroy();
    assertTrue(two.process().waitFor(30, TimeUnit.SECONDS), "process two did not exit on SIGTERM"
        + logs());
    eventually(one, "two-1 gone after SIGTERM",
        () -> post(one, "/v1/guests/two-1/commands/ping?timeoutMs=2000"), r -> {
          assertTrue(List.of(200, 404, 503).contains(r.statusCode()),
              "during the leave of two: " + r.statusCode() + " " + r.body());
          return r.statusCode() == 404;
        });
    long took = System.currentTimeMillis() - stopped;
    System.out.println("ClusterProcessIT: two exited and two-1 answered 404 " + took
        + " ms after SIGTERM");
    assertEquals(List.of("one-1"), readyNames(get(one, "/v1/guests")));
    assertEquals(200, post(one, "/v1/guests/one-1/commands/ping").statusCode());
    HttpResponse<String> ready = get(one, "/health/ready");
    assertEquals(200, ready.statusCode(), "one stays ready: " + ready.body());
  }

  // --- processes ---

  private Node start(String name, int hazelcastPort, List<String> members, String... guests)
      throws Exception {
    StringBuilder yaml = new StringBuilder()
        .append("node: { name: ").append(name).append(" }\n")
        .append("demo: { simulated: 0, hostAgent: false }\n")
        .append("discovery: []\n")
        // port 0: the process picks a free one and logs it, so no other process can take it
        // between our choosing and its binding
        .append("http: { host: 127.0.0.1, port: 0 }\n")
        .append("shutdown: { drainMs: 1000 }\n")
        .append("cluster:\n")
        // a lost member's guests answer 503 for this long, then 404
        .append("  unreachableRetentionMs: 3000\n")
        .append("  port: ").append(hazelcastPort).append('\n')
        .append("  members:\n");
    members.forEach(m -> yaml.append("    - \"").append(m).append("\"\n"));
    yaml.append("guests:\n");
    for (String guest : guests) {
      yaml.append("  - name: ").append(guest).append('\n')
          .append("    socket: \"").append(dir.resolve(guest + ".sock")).append("\"\n");
    }
    Path config = dir.resolve(name + ".yaml");
    Files.writeString(config, yaml);
    Path log = dir.resolve(name + ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process process = new ProcessBuilder(java, "-Xmx256m", "-jar", jar.toString(),
        "--config", config.toString(), "--cluster")
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    processes.add(process);
    return new Node(name, process, -1, log);
  }

  /** Reads the HTTP port from the process's start-up line, then waits for /health/ready. */
  private Node awaitReady(Node started) throws Exception {
    Pattern line = Pattern.compile("qga-gateway started: .*HTTP on 127\\.0\\.0\\.1:(\\d+)");
    long deadline = System.currentTimeMillis() + START.toMillis();
    int port = -1;
    while (port < 0) {
      if (!started.process().isAlive()) {
        fail("process " + started.name() + " exited with " + started.process().exitValue()
            + logs());
      }
      if (System.currentTimeMillis() > deadline) {
        fail("process " + started.name() + " did not start in " + START + logs());
      }
      Matcher m = line.matcher(Files.readString(started.log(), StandardCharsets.UTF_8));
      if (m.find()) {
        port = Integer.parseInt(m.group(1));
      } else {
        Thread.sleep(200);
      }
    }
    Node node = new Node(started.name(), started.process(), port, started.log());
    eventually(node, node.name() + " ready", () -> get(node, "/health/ready"),
        r -> r.statusCode() == 200);
    return node;
  }

  // --- HTTP ---

  private HttpResponse<String> get(Node node, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(node, path)).timeout(Duration.ofSeconds(10))
        .GET().build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private HttpResponse<String> post(Node node, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(node, path)).timeout(Duration.ofSeconds(10))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static URI uri(Node node, String path) {
    return URI.create("http://127.0.0.1:" + node.httpPort() + path);
  }

  private static List<String> readyNames(HttpResponse<String> response) {
    return new JsonObject(response.body()).getJsonArray("guests").stream()
        .map(g -> (JsonObject) g)
        .filter(g -> "ready".equals(g.getString("state")))
        .map(g -> g.getString("name")).sorted().collect(Collectors.toList());
  }

  // --- plumbing ---

  private interface Call {
    HttpResponse<String> call() throws Exception;
  }

  private static HttpResponse<String> unchecked(Call call) {
    try {
      return call.call();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private interface Check {
    boolean ok(HttpResponse<String> response);
  }

  /** Repeats the call until the check passes; fails with the node's log when it never does. */
  private HttpResponse<String> eventually(Node node, String what, Call call, Check check)
      throws Exception {
    long deadline = System.currentTimeMillis() + START.toMillis();
    String last = "no answer";
    while (System.currentTimeMillis() < deadline) {
      if (!node.process().isAlive()) {
        fail(what + ": process " + node.name() + " exited with " + node.process().exitValue()
            + logs());
      }
      try {
        HttpResponse<String> r = call.call();
        if (check.ok(r)) {
          return r;
        }
        last = r.statusCode() + " " + r.body();
      } catch (IOException e) {
        last = e.toString();
      }
      Thread.sleep(200);
    }
    return fail("timed out waiting for " + what + "; last: " + last + logs());
  }

  private String logs() {
    StringBuilder out = new StringBuilder();
    try (var files = Files.list(dir)) {
      for (Path log : files.filter(f -> f.toString().endsWith(".log")).sorted()
          .collect(Collectors.toList())) {
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        out.append("\n--- ").append(log.getFileName()).append(" (last 40 lines) ---\n");
        lines.subList(Math.max(0, lines.size() - 40), lines.size())
            .forEach(l -> out.append(l).append('\n'));
      }
    } catch (IOException e) {
      out.append("\n(logs unreadable: ").append(e).append(')');
    }
    return out.toString();
  }

  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

}
