package io.qgagateway.fleet;

import com.hazelcast.config.ClassFilter;
import com.hazelcast.config.Config;
import com.hazelcast.config.JavaSerializationFilterConfig;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.config.ReplicatedMapConfig;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.tls.TlsMaterial;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;

import java.util.ArrayList;
import java.util.List;

/**
 * Hazelcast for the gateway: vertx-hazelcast's default maps (the {@code __vertx.*} settings the
 * event bus needs), with the join made explicit. TCP-IP to the configured members by default,
 * on loopback unless told otherwise, never multicast; or Kubernetes DNS discovery.
 */
public final class ClusterSetup {

  private ClusterSetup() {
  }

  public static Config hazelcastConfig(GatewayConfig.Cluster cluster) {
    Config config = ConfigUtil.loadConfig();
    config.setProperty("hazelcast.phone.home.enabled", "false");
    config.setProperty("hazelcast.logging.type", "jdk");
    config.setClusterName("qga-gateway");
    failureDetection(config, cluster);
    // the fleet record (HazelcastFleetStore): read locally on every member; a joining member
    // reads nothing before it has the whole record
    config.addReplicatedMapConfig(new ReplicatedMapConfig(HazelcastFleetStore.MAPS_PATTERN)
        .setAsyncFillup(false).setStatisticsEnabled(false));
    // Hazelcast membership is not authenticated (docs/SECURITY.md, "Transport"): whatever
    // joins may send objects to deserialize. Only what the cluster stores is accepted:
    // Hazelcast's default allow-list (java*, com.hazelcast., arrays) plus Vert.x's node and
    // registration records and the gateway's own.
    config.getSerializationConfig().setJavaSerializationFilterConfig(
        new JavaSerializationFilterConfig().setWhitelist(new ClassFilter()
            .addPrefixes("io.vertx.", "io.qgagateway.")));
    NetworkConfig network = config.getNetworkConfig();
    network.setPort(cluster.port()).setPortAutoIncrement(true).setPortCount(20);
    JoinConfig join = network.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    if (cluster.kubernetes()) {
      join.getTcpIpConfig().setEnabled(false);
      join.getKubernetesConfig().setEnabled(true)
          .setProperty("service-dns", cluster.serviceDns())
          .setProperty("service-port", String.valueOf(cluster.port()));
    } else {
      // one member per entry: "127.0.0.1:5701-5703" does not parse. The getters' collections
      // are read-only in Hazelcast 5.6: replace them whole
      join.getTcpIpConfig().setEnabled(true).setMembers(new ArrayList<>(cluster.members()));
    }
    // bound to one address, never 0.0.0.0: the pod IP (QGA_POD_IP) in Kubernetes, loopback
    // when nothing says otherwise
    String bind = cluster.publicAddress() != null ? cluster.publicAddress() : "127.0.0.1";
    if (cluster.publicAddress() != null || !cluster.kubernetes()) {
      network.getInterfaces().setEnabled(true).setInterfaces(new ArrayList<>(List.of(bind)));
      config.setProperty("hazelcast.socket.bind.any", "false");
    }
    if (cluster.publicAddress() != null) {
      network.setPublicAddress(cluster.publicAddress());
    }
    return config;
  }

  /**
   * How soon a member that stops answering is removed from the cluster (docs/KUBERNETES.md,
   * "Failure detection"). A member that crashes or is killed loses its connections and goes
   * within a second whatever these say; one that hangs (SIGSTOP, a stalled VM, a network cut)
   * goes when no heartbeat came for {@code failureDetectionSeconds} (Hazelcast's default is
   * 60 s). Requests are routed around a hung member sooner, by {@link PeerProbe}; this only
   * decides membership, so it is long enough not to remove a member whose heartbeats merely
   * stalled. After a split (a member that hung past it and resumed), the halves merge after
   * 15 s instead of 5 minutes.
   */
  static void failureDetection(Config config, GatewayConfig.Cluster cluster) {
    config.setProperty("hazelcast.heartbeat.interval.seconds",
        String.valueOf(cluster.heartbeatSeconds()));
    config.setProperty("hazelcast.max.no.heartbeat.seconds",
        String.valueOf(cluster.failureDetectionSeconds()));
    config.setProperty("hazelcast.heartbeat.failuredetector.type", "deadline");
    config.setProperty("hazelcast.merge.first.run.delay.seconds", "15");
    config.setProperty("hazelcast.merge.next.run.delay.seconds", "15");
    // a stopping member hands its partitions over, but does not wait for that beyond 10 s
    // (Hazelcast's default is 10 minutes) when the cluster is still repairing another loss
    config.setProperty("hazelcast.graceful.shutdown.max.wait", "10");
  }

  /**
   * A clustered Vert.x whose event bus listens where the other members can reach it, with TLS
   * and required client certificates when {@code cluster.tls} is set (its files are read here,
   * before Vert.x starts: a bad one fails with a {@link io.qgagateway.config.ConfigException}).
   */
  public static Future<Vertx> clustered(VertxBuilder builder, VertxOptions options,
                                        GatewayConfig.Cluster cluster) {
    return clustered(builder, options, cluster, hazelcastConfig(cluster));
  }

  /**
   * The same with a Hazelcast configuration the caller adjusted (tests give each run its own
   * cluster name so they never join another run's members).
   */
  public static Future<Vertx> clustered(VertxBuilder builder, VertxOptions options,
                                        GatewayConfig.Cluster cluster, Config hazelcast) {
    String host = cluster.publicAddress() != null ? cluster.publicAddress() : "127.0.0.1";
    // 0: a free port; a fixed one for firewalls and Kubernetes NetworkPolicies
    options.getEventBusOptions().setHost(host).setPort(cluster.eventBusPort());
    if (cluster.tls() != null) {
      try {
        TlsMaterial.read(cluster.tls()).applyTo(options.getEventBusOptions());
      } catch (RuntimeException e) {
        return Future.failedFuture(e);
      }
    }
    return builder.with(options)
        .withClusterManager(new GatewayClusterManager(hazelcast))
        .buildClustered();
  }
}
