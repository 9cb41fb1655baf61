package io.qgagateway.fleet;

import com.hazelcast.config.Config;
import com.hazelcast.core.HazelcastInstance;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.api.Addresses;
import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.TestCa;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The clustered event bus with TLS and required client certificates (cluster.tls), with real
 * handshakes and a CA the test makes: three members serve each other's guests; a process that
 * joins Hazelcast (which has no authentication of its own) but holds no certificate of the
 * cluster CA, with a plain bus or with TLS and another CA's certificate, gets no reply from
 * {@code agent.*}, a guest's link address or a member's internal address, and no command of
 * its reaches an agent.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ClusterTlsTest {

  private static final long WAIT_MS = 20_000;

  @TempDir
  Path dir;

  private final String clusterName = "qga-tls-test-" + UUID.randomUUID();
  private final List<Vertx> instances = new ArrayList<>();
  private final List<Gateway> gateways = new ArrayList<>();
  private final List<SimulatedAgent> agents = new ArrayList<>();
  private final List<Integer> ports = new ArrayList<>();

  @AfterEach
  void stopAll() {
    List<Gateway> reversed = new ArrayList<>(gateways);
    Collections.reverse(reversed);
    for (Gateway g : reversed) {
      try {
        await(g.stop());
      } catch (Exception e) {
        // closing anyway
      }
    }
    for (Vertx v : instances) {
      try {
        await(v.close());
      } catch (Exception e) {
        // closing anyway
      }
    }
  }

  @Test
  void membersWithTheClusterCertificateServeEachOthersGuestsAndOutsidersGetNothing()
      throws Exception {
    TestCa ca = TestCa.create(dir, "cluster");
    TestCa otherCa = TestCa.create(dir, "other");
    for (int i = 0; i < 4; i++) {
      ports.add(TestPorts.free());
    }
    List<String> names = List.of("A", "B", "C");
    for (String name : names) {
      TestCa.Issued cert = ca.issue("member-" + name);
      start(name, ports.get(names.indexOf(name)), busTls(cert, ca.caCert()));
    }
    awaitGuests("g-A", "g-B", "g-C");
    for (int asked = 0; asked < 3; asked++) {
      for (String guest : List.of("g-A", "g-B", "g-C")) {
        JsonObject reply = request(instances.get(asked), "agent.get-host-name",
            new JsonObject().put("guest", guest));
        assertEquals(guest, reply.getJsonObject("return").getString("host-name"),
            "member " + names.get(asked) + " asked for " + guest);
      }
    }

    // outsiders that join Hazelcast: with a plain bus, and with TLS but another CA's cert
    TestCa.Issued foreign = otherCa.issue("rogue");
    for (JsonObject rogueTls : List.of(new JsonObject(), busTls(foreign, otherCa.caCert()))) {
      Vertx rogue = clustered("rogue", ports.get(3), rogueTls);
      instances.add(rogue);
      String memberB = gateways.get(1).node().id();
      List<String> addresses = List.of("agent.fstrim", "agent.ping",
          Addresses.link(memberB, "g-B"), Addresses.local("agent.fstrim"),
          FleetVerticle.describeAddress(memberB));
      for (String address : addresses) {
        long started = System.nanoTime();
        // a reply, if one could come, comes within milliseconds on loopback
        Exception refused = assertThrows(ExecutionException.class, () -> request(rogue, address,
            new JsonObject().put("guest", "g-B").put("execute", "guest-fstrim"), 2_000),
            "the outsider got a reply from " + address);
        System.out.printf("outsider (%s) -> %s: %s after %d ms%n",
            rogueTls.isEmpty() ? "plain bus" : "other CA", address, refused.getCause(),
            (System.nanoTime() - started) / 1_000_000);
      }
      await(rogue.close());
      instances.remove(rogue);
    }
    for (SimulatedAgent agent : agents) {
      assertEquals(0, agent.received().stream()
          .filter(r -> "guest-fstrim".equals(r.getString("execute"))).count(),
          agent.guest().hostName() + " never ran an outsider's command");
    }
    // what an outsider can still do through Hazelcast (docs/SECURITY.md, "Transport"): forge
    // a holding of g-B under a node name that sorts first. It never answered a probe over the
    // bus, so no member routes to it: g-B is still served by B, and the conflict shows.
    Vertx forger = clustered("forger", ports.get(3), new JsonObject());
    instances.add(forger);
    String forgerId = ((VertxInternal) forger).clusterManager().getNodeId();
    HazelcastInstance hz = ((GatewayClusterManager) ((VertxInternal) forger).clusterManager())
        .getHazelcastInstance();
    hz.getReplicatedMap(HazelcastFleetStore.NODES_MAP)
        .put(forgerId, new JsonObject().put("name", "0-forged").encode());
    hz.getReplicatedMap(HazelcastFleetStore.GUESTS_MAP)
        .put(HazelcastFleetStore.key(forgerId, "g-B"), "");
    long forged = System.currentTimeMillis();
    while (gateways.get(0).fleet().holders("g-B").stream().noneMatch(
        n -> n.id().equals(forgerId))) {
      assertTrue(System.currentTimeMillis() - forged < WAIT_MS, "the forged holding is seen");
      Thread.sleep(50);
    }
    assertEquals("B", gateways.get(0).fleet().holders("g-B").get(0).name(),
        "the member that answered over the bus comes first");
    assertEquals("g-B", request(instances.get(0), "agent.get-host-name",
        new JsonObject().put("guest", "g-B")).getJsonObject("return").getString("host-name"));
    assertEquals(1, gateways.get(1).fleet().conflicts(), "the real holder counts the conflict");
    await(forger.close());
    instances.remove(forger);
    awaitGuests("g-B");

    // the control: a non-gateway process with a certificate of the cluster CA is answered,
    // so what kept the outsiders out was the certificate
    Vertx holder = clustered("holder", ports.get(3), busTls(ca.issue("holder"), ca.caCert()));
    instances.add(holder);
    assertEquals("g-C", request(holder, "agent.get-host-name",
        new JsonObject().put("guest", "g-C")).getJsonObject("return").getString("host-name"));
  }

  @Test
  void aBadClusterCertificateFileIsAConfigurationErrorNamingTheKey() throws Exception {
    TestCa ca = TestCa.create(dir, "cluster");
    TestCa.Issued cert = ca.issue("member");
    GatewayConfig config = config("A", TestPorts.free(), new JsonObject()
        .put("cert", cert.cert().toString()).put("key", cert.key().toString())
        .put("ca", dir.resolve("no-such-ca.crt").toString()));
    ExecutionException e = assertThrows(ExecutionException.class, () -> await(
        ClusterSetup.clustered(Vertx.builder(), new VertxOptions(), config.cluster())));
    assertTrue(e.getCause() instanceof ConfigException, e.toString());
    assertTrue(e.getCause().getMessage().startsWith("cluster.tls.ca: "),
        e.getCause().getMessage());
  }

  private static JsonObject busTls(TestCa.Issued cert, Path ca) {
    return new JsonObject().put("cert", cert.cert().toString())
        .put("key", cert.key().toString()).put("ca", ca.toString());
  }

  private GatewayConfig config(String name, int hazelcastPort, JsonObject tls) {
    JsonArray members = new JsonArray();
    ports.forEach(p -> members.add("127.0.0.1:" + p));
    JsonObject cluster = new JsonObject().put("enabled", true).put("port", hazelcastPort)
        .put("members", members);
    if (!tls.isEmpty()) {
      cluster.put("tls", tls);
    }
    return GatewayConfig.parse(new JsonObject()
        .put("node", new JsonObject().put("name", name))
        .put("guests", new JsonArray().add(new JsonObject().put("name", "g-" + name)
            .put("socket", dir.resolve(name + ".sock").toString())))
        .put("discovery", new JsonArray())
        .put("libvirt", new JsonObject().put("enabled", false))
        .put("http", new JsonObject().put("enabled", false))
        .put("shutdown", new JsonObject().put("drainMs", 1000))
        .put("cluster", cluster));
  }

  private Vertx clustered(String name, int hazelcastPort, JsonObject tls) throws Exception {
    GatewayConfig config = config(name, hazelcastPort, tls);
    Config hazelcast = ClusterSetup.hazelcastConfig(config.cluster()).setClusterName(clusterName);
    return await(ClusterSetup.clustered(Vertx.builder(), new VertxOptions(), config.cluster(),
        hazelcast));
  }

  private void start(String name, int hazelcastPort, JsonObject tls) throws Exception {
    GatewayConfig config = config(name, hazelcastPort, tls);
    Vertx vertx = clustered(name, hazelcastPort, tls);
    instances.add(vertx);
    // host name = the guest's name, so a reply says which agent answered
    SimulatedAgent agent = new SimulatedAgent(vertx, "g-" + name);
    agents.add(agent);
    await(agent.listenUnix(dir.resolve(name + ".sock").toString()));
    Health health = new Health(true);
    health.clusterJoined();
    gateways.add(await(Gateway.start(vertx, config, new SimpleMeterRegistry(), health)));
  }

  /** Until every member routes each guest and the guest answers a ping through the first. */
  private void awaitGuests(String... guests) throws Exception {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    for (String guest : guests) {
      while (gateways.stream().anyMatch(g -> g.fleet().holders(guest).isEmpty())
          || !answers(guest)) {
        if (System.currentTimeMillis() > deadline) {
          fail("not every member serves " + guest);
        }
        Thread.sleep(100);
      }
    }
  }

  private boolean answers(String guest) {
    try {
      request(instances.get(0), "agent.ping", new JsonObject().put("guest", guest));
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private static JsonObject request(Vertx vertx, String address, JsonObject body)
      throws Exception {
    return request(vertx, address, body, 5_000);
  }

  private static JsonObject request(Vertx vertx, String address, JsonObject body,
                                    long timeoutMs) throws Exception {
    return await(vertx.eventBus().<JsonObject>request(address, body,
        new DeliveryOptions().setSendTimeout(timeoutMs)).map(m -> m.body()));
  }

  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }
}
