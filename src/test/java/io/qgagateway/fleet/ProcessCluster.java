package io.qgagateway.fleet;

import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.GatewayProcess;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Gateway members as separate processes ({@code java -jar target/qga-gateway.jar --config F
 * --cluster}), clustered over loopback TCP-IP on ports of their own, each with its guests'
 * simulated agents in this JVM (a guest whose name ends in {@code -slow} answers
 * {@code guest-fstrim} after a minute). Also a raw client of the TCP bridge. For the
 * {@code *ProcessIT} tests, which run in {@code mvn verify} after the jar is built.
 */
final class ProcessCluster implements AutoCloseable {

  static final Duration START = Duration.ofSeconds(180);
  private static final Pattern STARTED = Pattern.compile("qga-gateway started: .*HTTP on "
      + "127\\.0\\.0\\.1:(\\d+), bridge on 127\\.0\\.0\\.1:(\\d+)");

  /** A started member: its process, where it answers, its log. */
  record Member(String name, Process process, int httpPort, int bridgePort, Path log,
                List<String> guests) {
  }

  private final Path dir;
  private final Path jar;
  private final Vertx vertx;
  private final List<Integer> hazelcastPorts = new ArrayList<>();
  private final List<Process> processes = new ArrayList<>();
  // referenced, or Vert.x 5.1 closes their servers on GC
  final Map<String, SimulatedAgent> agents = new LinkedHashMap<>();
  final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  /** Extra YAML lines of the cluster section of every member. */
  String clusterExtra = "";

  ProcessCluster(Path dir, int members) throws IOException {
    this.dir = dir;
    jar = GatewayProcess.jar();
    vertx = TestVertx.create();
    for (int i = 0; i < members; i++) {
      int port;
      do {
        port = TestPorts.free();
      } while (tooClose(port));
      hazelcastPorts.add(port);
    }
  }

  /** Hazelcast takes the next ports when one is busy: keep members' ports apart. */
  private boolean tooClose(int port) {
    return hazelcastPorts.stream().anyMatch(p -> Math.abs(p - port) < 3);
  }

  /** The simulated agents of these guests, listening on {@code dir/<guest>.sock}. */
  void agents(String... guests) throws Exception {
    for (String guest : guests) {
      SimulatedAgent agent = new SimulatedAgent(vertx, guest, guest.endsWith("-slow")
          ? SimulatedAgent.Options.DEFAULTS.withWriter(SlowFstrim::write)
          : SimulatedAgent.Options.DEFAULTS);
      agents.put(guest, agent);
      agent.listenUnix(socket(guest).toString()).toCompletionStage().toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
    }
  }

  Path socket(String guest) {
    return dir.resolve(guest + ".sock");
  }

  /** The requests this guest's agent received, by command. */
  long received(String guest, String command) {
    return agents.get(guest).received().stream()
        .filter(r -> command.equals(r.getString("execute"))).count();
  }

  List<String> hazelcastMembers() {
    return hazelcastPorts.stream().map(p -> "127.0.0.1:" + p).collect(Collectors.toList());
  }

  /** Starts member {@code index} (its own Hazelcast port) named {@code name}. */
  Member start(int index, String name, String... guests) throws IOException {
    return start(index, name, 0, "256m", guests);
  }

  /**
   * Starts member {@code index} named {@code name} with {@code simulated} demo guests of its
   * own ({@code <name>-sim-1} ...) besides {@code guests}, and this heap.
   */
  Member start(int index, String name, int simulated, String heap, String... guests)
      throws IOException {
    StringBuilder yaml = new StringBuilder()
        .append("node: { name: ").append(name).append(" }\n")
        .append("demo: { simulated: ").append(simulated).append(", hostAgent: false }\n")
        .append("discovery: []\n")
        // only the guests given here: not the domains of a libvirtd this host may run
        .append("libvirt: { enabled: false }\n")
        // port 0: the process picks free ones and logs them
        .append("http: { host: 127.0.0.1, port: 0 }\n")
        .append("bridge: { enabled: true, host: 127.0.0.1, port: 0 }\n")
        .append("shutdown: { drainMs: 1000 }\n")
        .append("vertx: { eventLoops: 2 }\n")
        .append("policy: { allow: [file-put] }\n")
        .append("cluster:\n")
        .append("  port: ").append(hazelcastPorts.get(index)).append('\n')
        .append(clusterExtra)
        .append("  members:\n");
    hazelcastMembers().forEach(m -> yaml.append("    - \"").append(m).append("\"\n"));
    yaml.append("guests:\n");
    for (String guest : guests) {
      yaml.append("  - name: ").append(guest).append('\n')
          .append("    socket: \"").append(socket(guest)).append("\"\n");
    }
    Path config = dir.resolve(name + "-" + System.nanoTime() + ".yaml");
    Files.writeString(config, yaml);
    Path log = dir.resolve(name + "-" + System.nanoTime() + ".log");
    Process process = new ProcessBuilder(GatewayProcess.java(), "-Xmx" + heap, "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1", "-jar", jar.toString(), "--config", config.toString(),
        "--cluster")
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    processes.add(process);
    return new Member(name, process, -1, -1, log, List.of(guests));
  }

  /** Reads the ports from the member's start-up line. */
  Member awaitStarted(Member started) throws Exception {
    Matcher m = GatewayProcess.awaitLine(started.process(), started.name(), started.log(),
        STARTED, START, this::logs);
    return new Member(started.name(), started.process(), Integer.parseInt(m.group(1)),
        Integer.parseInt(m.group(2)), started.log(), started.guests());
  }

  Member awaitReady(Member member) throws Exception {
    eventually(member, member.name() + " ready", () -> get(member, "/health/ready"),
        r -> r.statusCode() == 200);
    return member;
  }

  // ---- signals -----------------------------------------------------------------------------

  static void signal(Member m, String signal) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(m.process().pid()))
        .redirectErrorStream(true).start();
    if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
      fail("kill -" + signal + " " + m.process().pid() + " failed");
    }
  }

  // ---- HTTP --------------------------------------------------------------------------------

  HttpResponse<String> get(Member m, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(m, path)).timeout(Duration.ofSeconds(20))
        .GET().build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  HttpResponse<String> post(Member m, String path, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(m, path)).timeout(Duration.ofSeconds(20))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static URI uri(Member m, String path) {
    return URI.create("http://127.0.0.1:" + m.httpPort() + path);
  }

  /**
   * The value of a sample of {@code /metrics} ({@code name{label="value"}}, labels as the
   * exposition orders them), or -1 when absent.
   */
  double metric(Member m, String series) throws Exception {
    for (String l : get(m, "/metrics").body().split("\n")) {
      String sample = l.replace(",}", "}");
      if (sample.startsWith(series + " ")) {
        return Double.parseDouble(sample.substring(series.length() + 1).trim());
      }
    }
    return -1;
  }

  /** Runs {@code read} on the guest's agent's context (where its state lives). */
  <T> T onAgent(String guest, java.util.function.Supplier<T> read) throws Exception {
    CompletableFuture<T> result = new CompletableFuture<>();
    agents.get(guest).context().runOnContext(v -> result.complete(read.get()));
    return result.get(10, TimeUnit.SECONDS);
  }

  /**
   * Repeats the call until the check passes (I/O errors retried, for up to {@link #START});
   * fails with the logs when it never does or the member exits.
   */
  HttpResponse<String> eventually(Member m, String what,
                                  GatewayProcess.Attempt<HttpResponse<String>> call,
                                  GatewayProcess.Check<HttpResponse<String>> check)
      throws Exception {
    return GatewayProcess.eventually(m.process(), m.name(), what, START, call, check,
        this::logs);
  }

  /** The last lines of every member's log, for failure messages. */
  String logs() {
    return GatewayProcess.tails(dir);
  }

  /** Lines of every member's log that contain {@code text}. */
  List<String> logLines(String text) throws IOException {
    List<String> out = new ArrayList<>();
    try (var files = Files.list(dir)) {
      for (Path log : files.filter(f -> f.toString().endsWith(".log")).sorted()
          .collect(Collectors.toList())) {
        for (String l : Files.readAllLines(log, StandardCharsets.UTF_8)) {
          if (l.contains(text)) {
            out.add(l);
          }
        }
      }
    }
    return out;
  }

  @Override
  public void close() throws Exception {
    for (Process p : processes) {
      if (p.isAlive()) {
        // a stopped process ignores SIGTERM until continued
        new ProcessBuilder("kill", "-CONT", Long.toString(p.pid())).start().waitFor();
        p.destroy();
      }
    }
    for (Process p : processes) {
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    }
    vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    keepLogs();
  }

  /** Copies the members' logs to target/process-it-logs/, for a look after the test. */
  private void keepLogs() throws IOException {
    Path keep = Path.of("target", "process-it-logs", dir.getFileName().toString());
    Files.createDirectories(keep);
    try (var files = Files.list(dir)) {
      for (Path log : files.filter(f -> f.toString().endsWith(".log"))
          .collect(Collectors.toList())) {
        Files.copy(log, keep.resolve(log.getFileName()),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  // ---- the TCP bridge ----------------------------------------------------------------------

  /** A raw client of the bridge's framing: requests by reply address, frames without one. */
  static final class Bridge implements AutoCloseable {
    private final Socket socket;
    private final DataOutputStream out;
    private final Map<String, CompletableFuture<JsonObject>> waiting = new ConcurrentHashMap<>();
    final List<JsonObject> unaddressed = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final Thread reader;

    Bridge(int port) throws IOException {
      socket = new Socket("127.0.0.1", port);
      out = new DataOutputStream(socket.getOutputStream());
      DataInputStream in = new DataInputStream(socket.getInputStream());
      reader = new Thread(() -> {
        try {
          while (true) {
            byte[] frame = new byte[in.readInt()];
            in.readFully(frame);
            JsonObject json = new JsonObject(new String(frame, StandardCharsets.UTF_8));
            CompletableFuture<JsonObject> f = json.getString("address") == null ? null
                : waiting.remove(json.getString("address"));
            if (f != null) {
              f.complete(json);
            } else {
              unaddressed.add(json);
            }
          }
        } catch (IOException e) {
          waiting.values().forEach(f -> f.completeExceptionally(e));
        }
      }, "bridge-reader-" + port);
      reader.setDaemon(true);
      reader.start();
    }

    /** A send with a reply address; completes with the {@code message} or {@code err} frame. */
    CompletableFuture<JsonObject> request(String address, JsonObject body) throws IOException {
      String replyAddress = "r" + ids.incrementAndGet();
      CompletableFuture<JsonObject> reply = new CompletableFuture<>();
      waiting.put(replyAddress, reply);
      write(new JsonObject().put("type", "send").put("address", address).put("body", body)
          .put("replyAddress", replyAddress));
      return reply;
    }

    void publish(String address, JsonObject body) throws IOException {
      write(new JsonObject().put("type", "publish").put("address", address).put("body", body));
    }

    synchronized void write(JsonObject frame) throws IOException {
      byte[] json = frame.encode().getBytes(StandardCharsets.UTF_8);
      out.writeInt(json.length);
      out.write(json);
      out.flush();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }
}
