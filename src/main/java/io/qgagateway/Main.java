package io.qgagateway;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.config.ConfigException;
import io.qgagateway.config.ConfigLoader;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.config.TlsConfig;
import io.qgagateway.fleet.ClusterSetup;
import io.qgagateway.http.Health;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.transport.Transport;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/** {@code java -jar qga-gateway.jar [--config FILE] [--cluster]}. */
public final class Main {

  static {
    // before the first logger exists, or the JDK's own manager is already in place
    if (System.getProperty("java.util.logging.manager") == null) {
      System.setProperty("java.util.logging.manager", Logging.StopSafeLogManager.class.getName());
    }
  }

  private static final Logger log = Logger.getLogger(Main.class.getName());
  private static final String USAGE = """
      usage: java -jar qga-gateway.jar [--config FILE] [--cluster]
        --config FILE  YAML or JSON configuration (default conf/config.yaml)
        --cluster      join the Hazelcast cluster (also cluster.enabled or QGA_CLUSTER=true)
      """;
  private static final long WATCH_MS = 2_000;
  /** How long a stop may take beyond {@code shutdown.drainMs}: links closing, leaving Hazelcast. */
  private static final long STOP_BEYOND_DRAIN_MS = 15_000;

  private Main() {
  }

  public static void main(String[] args) throws InterruptedException {
    String path = "conf/config.yaml";
    JsonObject overrides = new JsonObject();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--config" -> {
          if (i + 1 >= args.length) {
            exit(2, "--config needs a file\n" + USAGE);
          }
          path = args[++i];
        }
        case "--cluster" -> overrides.put("cluster", new JsonObject().put("enabled", true));
        case "--help", "-h" -> exit(0, USAGE);
        default -> exit(2, "unknown argument " + args[i] + "\n" + USAGE);
      }
    }
    Logging.install(false);
    GatewayConfig config = loadOrExit(path, overrides);
    Logging.install(config.jsonLogging());
    run(path, overrides, config);
  }

  private static GatewayConfig loadOrExit(String path, JsonObject overrides)
      throws InterruptedException {
    Vertx bootstrap = Vertx.vertx();
    try {
      return await(new ConfigLoader(bootstrap, path, overrides).load());
    } catch (RuntimeException e) {
      exit(2, "qga-gateway: configuration error: " + e.getMessage());
      return null;
    } finally {
      bootstrap.close();
    }
  }

  private static void run(String path, JsonObject overrides, GatewayConfig config)
      throws InterruptedException {
    MeterRegistry registry = config.metrics().enabled()
        ? new PrometheusMeterRegistry(PrometheusConfig.DEFAULT) : new SimpleMeterRegistry();
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    VertxOptions options = new VertxOptions()
        .setMetricsOptions(new MicrometerMetricsOptions().setEnabled(config.metrics().enabled()));
    boolean clustered = config.cluster().enabled();
    VertxBuilder builder = config.vertx().applyTo(Vertx.builder(), options)
        .withMetrics(new MicrometerMetricsFactory(registry));
    Vertx vertx;
    try {
      vertx = await(clustered ? ClusterSetup.clustered(builder, options, config.cluster())
          : Future.succeededFuture(builder.build()));
    } catch (ConfigException e) {
      // cluster.tls: a missing or bad certificate file
      exit(2, "qga-gateway: configuration error: " + e.getMessage());
      return;
    } catch (RuntimeException e) {
      exit(1, "qga-gateway: could not join the cluster: " + e.getMessage());
      return;
    }
    Transport transport = config.vertx().pickTransport();
    if (!transport.available()) {
      log.warning("vertx.transport " + transport.name() + " is unavailable here, using nio: "
          + transport.unavailabilityCause());
    }
    Health health = new Health(clustered);
    if (clustered) {
      health.clusterJoined();
    }
    Gateway gateway;
    try {
      gateway = await(Gateway.start(vertx, config, registry, health));
    } catch (ConfigException e) {
      // e.g. a discovery of libvirt's channel directory where libvirtd runs
      vertx.close();
      exit(2, "qga-gateway: configuration error: " + e.getMessage());
      return;
    } catch (RuntimeException e) {
      vertx.close();
      exit(1, "qga-gateway: could not start: " + e.getMessage());
      return;
    }
    ConfigLoader watcher = new ConfigLoader(vertx, path, overrides);
    watcher.load().onSuccess(c -> watcher.watch(WATCH_MS, next -> {
      try {
        gateway.reconfigure(next);
      } catch (RuntimeException e) {
        log.severe("configuration " + path + " not applied: " + e.getMessage());
      }
    }));
    log.info("qga-gateway started: node " + gateway.node().name() + " (" + gateway.node().id()
        + ")" + (gateway.httpPort() > 0 ? ", HTTP on " + config.http().host() + ":"
        + gateway.httpPort() + tls(config.http().tls()) : "") + (config.bridge().enabled()
        ? ", bridge on " + config.bridge().host() + ":" + gateway.bridgePort()
        + tls(config.bridge().tls()) : "")
        + (clustered ? ", clustered" + tls(config.cluster().tls()) : "") + ", " + (transport.available() ? transport.name()
        : "nio") + " transport, backends: " + gateway.backends());
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("stopping: draining requests, thawing frozen guests, closing sockets");
      watcher.close();
      // bounded: leaving the cluster can block while Hazelcast repairs another member's loss,
      // and an orchestrator kills a process that does not exit in its grace period anyway
      long bound = config.drainMs() + STOP_BEYOND_DRAIN_MS;
      try {
        await(gateway.stop().transform(ar -> vertx.close()), bound);
      } catch (RuntimeException | InterruptedException e) {
        log.warning("unclean stop (" + bound + " ms): " + e.getMessage());
      }
    }, "qga-gateway-shutdown"));
  }

  /** For the start-up line: whether a listener speaks TLS. */
  private static String tls(TlsConfig tls) {
    return tls == null ? "" : " (TLS)";
  }

  private static <T> T await(Future<T> future) throws InterruptedException {
    return await(future, TimeUnit.MINUTES.toMillis(5));
  }

  private static <T> T await(Future<T> future, long timeoutMs) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    future.onComplete(ar -> done.countDown());
    if (!done.await(timeoutMs, TimeUnit.MILLISECONDS)) {
      throw new IllegalStateException("timed out");
    }
    if (future.failed()) {
      Throwable cause = future.cause();
      throw cause instanceof RuntimeException re ? re : new IllegalStateException(
          cause.getMessage(), cause);
    }
    return future.result();
  }

  private static void exit(int status, String message) {
    (status == 0 ? System.out : System.err).println(message.strip());
    System.exit(status);
  }
}
