package io.qgagateway.fleet;

import com.hazelcast.config.Config;
import com.hazelcast.config.JavaSerializationFilterConfig;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Hazelcast configuration the gateway builds, without starting Hazelcast: one bound address
 * (the pod IP in Kubernetes, loopback by default), never multicast, and the deserialization
 * allow-list (docs/SECURITY.md, "Transport").
 */
class ClusterSetupTest {

  private static Config hazelcast(JsonObject cluster) {
    return ClusterSetup.hazelcastConfig(GatewayConfig.parse(new JsonObject()
        .put("cluster", cluster.put("enabled", true))).cluster());
  }

  @Test
  void kubernetesBindsThePodIpOnly() {
    Config config = hazelcast(new JsonObject().put("publicAddress", "10.1.2.3")
        .put("members", new JsonArray())
        .put("kubernetes", new JsonObject().put("enabled", true)
            .put("serviceDns", "qga-gateway-hazelcast.qga.svc.cluster.local")));
    var network = config.getNetworkConfig();
    assertTrue(network.getJoin().getKubernetesConfig().isEnabled());
    assertFalse(network.getJoin().getMulticastConfig().isEnabled());
    assertTrue(network.getInterfaces().isEnabled());
    assertEquals(List.of("10.1.2.3"), List.copyOf(network.getInterfaces().getInterfaces()));
    assertEquals("false", config.getProperty("hazelcast.socket.bind.any"));
    assertEquals("10.1.2.3", network.getPublicAddress());
  }

  @Test
  void tcpIpBindsLoopbackUnlessToldOtherwise() {
    Config config = hazelcast(new JsonObject());
    assertEquals(List.of("127.0.0.1"),
        List.copyOf(config.getNetworkConfig().getInterfaces().getInterfaces()));
    assertEquals("false", config.getProperty("hazelcast.socket.bind.any"));
  }

  @Test
  void deserializationIsLimitedToTheClassesTheClusterStores() {
    JavaSerializationFilterConfig filter = hazelcast(new JsonObject()).getSerializationConfig()
        .getJavaSerializationFilterConfig();
    assertNotNull(filter, "the filter is on");
    assertFalse(filter.isDefaultsDisabled(), "Hazelcast's own allow-list stays");
    assertEquals(java.util.Set.of("io.vertx.", "io.qgagateway."),
        filter.getWhitelist().getPrefixes());
  }
}
