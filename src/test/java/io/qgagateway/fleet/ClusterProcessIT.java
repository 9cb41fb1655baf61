package io.qgagateway.fleet;

import io.qgagateway.fleet.ProcessCluster.Member;
import io.qgagateway.testing.GatewayProcess.Attempt;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two gateway processes started from the shaded jar ({@code java -jar target/qga-gateway.jar
 * --config F --cluster}) as an operator would, clustered over loopback TCP-IP on ports of their
 * own ({@link ProcessCluster}). Their guests are simulated agents in this JVM. Runs in
 * {@code mvn verify}, after {@code package} has built the jar (maven-failsafe-plugin).
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ClusterProcessIT {

  @TempDir
  Path dir;

  private ProcessCluster cluster;

  @BeforeEach
  void setUp() throws Exception {
    cluster = new ProcessCluster(dir, 2);
    // a lost member's guests answer 503 for this long, then 404
    cluster.clusterExtra = "  unreachableRetentionMs: 3000\n";
    cluster.agents("one-1", "two-1");
  }

  @AfterEach
  void tearDown() throws Exception {
    cluster.close();
  }

  /** Starts processes one (guest one-1) and two (guest two-1) and waits until both are ready. */
  private Member[] startPair() throws Exception {
    Member one = cluster.start(0, "one", "one-1");
    Member two = cluster.start(1, "two", "two-1");
    return new Member[] {cluster.awaitReady(cluster.awaitStarted(one)),
        cluster.awaitReady(cluster.awaitStarted(two))};
  }

  @Test
  void processesRouteToEachOthersGuestsAndForgetAKilledOne() throws Exception {
    Member[] pair = startPair();
    Member one = pair[0];
    Member two = pair[1];

    // process one answers for process two's guest once two's announcement is in
    HttpResponse<String> ping = cluster.eventually(one, "ping two-1 through one",
        () -> cluster.post(one, "/v1/guests/two-1/commands/ping", "{}"),
        r -> r.statusCode() == 200);
    assertEquals(new JsonObject().put("return", new JsonObject()), new JsonObject(ping.body()));
    HttpResponse<String> name = cluster.post(one, "/v1/guests/two-1/commands/get-host-name",
        "{}");
    assertEquals(200, name.statusCode(), name.body());
    assertEquals("two-1", new JsonObject(name.body()).getJsonObject("return")
        .getString("host-name"));
    assertEquals(200, cluster.post(two, "/v1/guests/one-1/commands/ping", "{}").statusCode());

    HttpResponse<String> listed = cluster.eventually(one, "both guests ready in GET /v1/guests",
        () -> cluster.get(one, "/v1/guests"), r -> r.statusCode() == 200
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
    HttpResponse<String> gone = cluster.eventually(one, "two-1 gone after kill -9",
        () -> cluster.post(one, "/v1/guests/two-1/commands/ping?timeoutMs=2000", "{}"),
        r -> {
          assertTrue(List.of(404, 503, 504).contains(r.statusCode()),
              "during the loss of two: " + r.statusCode() + " " + r.body());
          // one's own guest is not held up by the dead member meanwhile
          long asked = System.currentTimeMillis();
          HttpResponse<String> own = unchecked(() ->
              cluster.post(one, "/v1/guests/one-1/commands/ping?timeoutMs=2000", "{}"));
          assertEquals(200, own.statusCode(), "one-1 while two is dead: " + own.body());
          assertTrue(System.currentTimeMillis() - asked < 2_000, "one-1 answered slowly");
          return r.statusCode() == 404;
        });
    assertEquals(404, new JsonObject(gone.body()).getJsonObject("error").getInteger("code"));
    long took = System.currentTimeMillis() - killed;
    System.out.println("ClusterProcessIT: two-1 answered 404 " + took + " ms after kill -9");
    assertTrue(took < 20_000, "two-1 forgotten after " + took + " ms");
    assertEquals(List.of("one-1"), readyNames(cluster.get(one, "/v1/guests")));
    assertEquals(200, cluster.post(one, "/v1/guests/one-1/commands/ping", "{}").statusCode());
  }

  @Test
  void aProcessStoppedWithSigtermLeavesCleanly() throws Exception {
    Member[] pair = startPair();
    Member one = pair[0];
    Member two = pair[1];
    cluster.eventually(one, "ping two-1 through one",
        () -> cluster.post(one, "/v1/guests/two-1/commands/ping", "{}"),
        r -> r.statusCode() == 200);

    // SIGTERM: Main's shutdown hook drains, says it leaves, leaves Hazelcast and exits
    long stopped = System.currentTimeMillis();
    two.process().destroy();
    assertTrue(two.process().waitFor(30, TimeUnit.SECONDS), "process two did not exit on SIGTERM"
        + cluster.logs());
    cluster.eventually(one, "two-1 gone after SIGTERM",
        () -> cluster.post(one, "/v1/guests/two-1/commands/ping?timeoutMs=2000", "{}"),
        r -> {
          assertTrue(List.of(200, 404, 503).contains(r.statusCode()),
              "during the leave of two: " + r.statusCode() + " " + r.body());
          return r.statusCode() == 404;
        });
    long took = System.currentTimeMillis() - stopped;
    System.out.println("ClusterProcessIT: two exited and two-1 answered 404 " + took
        + " ms after SIGTERM");
    assertEquals(List.of("one-1"), readyNames(cluster.get(one, "/v1/guests")));
    assertEquals(200, cluster.post(one, "/v1/guests/one-1/commands/ping", "{}").statusCode());
    HttpResponse<String> ready = cluster.get(one, "/health/ready");
    assertEquals(200, ready.statusCode(), "one stays ready: " + ready.body());
  }

  private static List<String> readyNames(HttpResponse<String> response) {
    return new JsonObject(response.body()).getJsonArray("guests").stream()
        .map(g -> (JsonObject) g)
        .filter(g -> "ready".equals(g.getString("state")))
        .map(g -> g.getString("name")).sorted().collect(Collectors.toList());
  }

  private static HttpResponse<String> unchecked(Attempt<HttpResponse<String>> call) {
    try {
      return call.get();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
