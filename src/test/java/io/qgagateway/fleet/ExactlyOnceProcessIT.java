package io.qgagateway.fleet;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.fleet.ProcessCluster.Member;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One request, one execution, whatever the number of members and event loops: three gateway
 * processes of two event loops each (six dispatchers of every {@code agent.*} address), and a
 * Vert.x client that joins their cluster. A publish to {@code agent.*} on the bus or through the
 * bridge runs nothing anywhere (the bridge answers it with an error frame, every member counts
 * it once); a request through the bus, the bridge or HTTP runs once and is audited once.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ExactlyOnceProcessIT {

  @TempDir
  Path dir;

  private ProcessCluster cluster;
  private Vertx client;

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (client != null) {
        client.close().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
    } finally {
      if (cluster != null) {
        cluster.close();
      }
    }
  }

  @Test
  void aPublishRunsNothingAnywhereAndEachRequestRunsOnce() throws Exception {
    cluster = new ProcessCluster(dir, 4);
    cluster.agents("a-1", "b-1", "c-1");
    Member[] started = {cluster.start(0, "A", "a-1"), cluster.start(1, "B", "b-1"),
        cluster.start(2, "C", "c-1")};
    Member a = cluster.awaitReady(cluster.awaitStarted(started[0]));
    Member b = cluster.awaitReady(cluster.awaitStarted(started[1]));
    Member c = cluster.awaitReady(cluster.awaitStarted(started[2]));
    for (Member m : List.of(a, b, c)) {
      cluster.eventually(m, "all three guests ready through " + m.name(),
          () -> cluster.get(m, "/v1/guests"), r -> r.statusCode() == 200
              && readyCount(r) == 3);
    }
    client = joinAsClient(cluster);

    // a publish on the bus reaches 3 members x 2 dispatchers; through the bridge it is refused
    String line = Base64.getEncoder().encodeToString("line\n".getBytes(StandardCharsets.UTF_8));
    JsonObject append = new JsonObject().put("guest", "c-1").put("arguments", new JsonObject()
        .put("path", "/log").put("content-b64", line).put("mode", "a"));
    client.eventBus().publish("agent.fstrim", new JsonObject().put("guest", "b-1"));
    client.eventBus().publish("agent.file-put", append);
    try (ProcessCluster.Bridge bridge = new ProcessCluster.Bridge(a.bridgePort())) {
      bridge.publish("agent.fstrim", new JsonObject().put("guest", "a-1"));
      long deadline = System.currentTimeMillis() + 10_000;
      while (bridge.unaddressed.isEmpty() && System.currentTimeMillis() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(1, bridge.unaddressed.size(), "one err frame: " + bridge.unaddressed);
      JsonObject err = bridge.unaddressed.get(0);
      assertEquals("err", err.getString("type"), err.encode());
      assertEquals(400, err.getInteger("failureCode"), err.encode());
    }
    String publishes = "qga_refused_requests_total{reason=\"publish\"}";
    for (Member m : List.of(a, b, c)) {
      double expected = m == a ? 3 : 2;
      cluster.eventually(m, m.name() + " counted each publish once",
          () -> cluster.get(m, "/metrics"), r -> cluster.metric(m, publishes) >= expected);
    }
    Thread.sleep(1_000);
    assertEquals(3, cluster.metric(a, publishes), "A: two bus publishes and the bridge's");
    assertEquals(2, cluster.metric(b, publishes));
    assertEquals(2, cluster.metric(c, publishes));
    assertEquals(0, cluster.received("a-1", "guest-fstrim"));
    assertEquals(0, cluster.received("b-1", "guest-fstrim"));
    assertEquals(0, cluster.received("c-1", "guest-file-open"));
    assertEquals(List.of(), cluster.logLines("qga.audit"), "nothing ran, nothing audited");

    // one request each way: one execution each
    Message<JsonObject> put = client.eventBus().<JsonObject>request("agent.file-put", append,
        new DeliveryOptions().setSendTimeout(30_000)).toCompletionStage().toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    assertEquals(5, put.body().getJsonObject("return").getInteger("size"), put.body().encode());
    assertEquals(1, cluster.received("c-1", "guest-file-write"));
    byte[] content = cluster.onAgent("c-1", () -> cluster.agents.get("c-1").guest()
        .file("/log"));
    assertArrayEquals("line\n".getBytes(StandardCharsets.UTF_8), content,
        "the append wrote its line once");

    try (ProcessCluster.Bridge bridge = new ProcessCluster.Bridge(a.bridgePort())) {
      JsonObject reply = bridge.request("agent.fstrim", new JsonObject().put("guest", "b-1"))
          .get(30, TimeUnit.SECONDS);
      assertEquals("message", reply.getString("type"), reply.encode());
    }
    assertEquals(1, cluster.received("b-1", "guest-fstrim"));
    HttpResponse<String> http = cluster.post(c, "/v1/guests/a-1/commands/fstrim", "{}");
    assertEquals(200, http.statusCode(), http.body());
    assertEquals(1, cluster.received("a-1", "guest-fstrim"));

    List<String> audit = cluster.logLines("qga.audit");
    assertEquals(3, audit.size(), "one audit line per request: " + audit);
    assertEquals(1, audit.stream().filter(l -> l.contains("command=file-put")).count(), audit
        .toString());
  }

  private static int readyCount(HttpResponse<String> r) {
    JsonArray guests = new JsonObject(r.body()).getJsonArray("guests");
    int n = 0;
    for (Object g : guests) {
      if ("ready".equals(((JsonObject) g).getString("state"))) {
        n++;
      }
    }
    return n;
  }

  /**
   * A plain Vert.x member of the gateways' cluster, as a JVM caller would run one, on the
   * cluster's fourth Hazelcast port.
   */
  static Vertx joinAsClient(ProcessCluster cluster) throws Exception {
    JsonArray members = new JsonArray();
    cluster.hazelcastMembers().forEach(members::add);
    GatewayConfig.Cluster config = GatewayConfig.parse(new JsonObject().put("cluster",
        new JsonObject().put("enabled", true).put("members", members)
            .put("port", Integer.parseInt(cluster.hazelcastMembers().get(3).split(":")[1]))))
        .cluster();
    return ClusterSetup.clustered(Vertx.builder(), new VertxOptions(), config)
        .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }
}
