package io.qgagateway.config;

import io.qgagateway.k8s.ManifestsTest;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static io.qgagateway.testing.GatewayHarness.await;
import static io.qgagateway.testing.GatewayHarness.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading YAML and JSON files through vertx-config, the QGA_* mapping, and watching edits. */
@ExtendWith(VertxExtension.class)
class ConfigLoaderTest {

  private static final String VALID = """
      guests:
        - name: vm-1
          socket: /run/vm-1.sock
      http: { host: 127.0.0.1, port: %d }
      cluster: { port: 5702 }
      """;

  private Vertx vertx;
  private Path dir;
  private final List<ConfigLoader> loaders = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(Vertx vertx, @TempDir Path dir) {
    this.vertx = vertx;
    this.dir = dir;
  }

  @AfterEach
  void tearDown() {
    loaders.forEach(ConfigLoader::close);
  }

  private ConfigLoader loader(Path file, JsonObject overrides) {
    ConfigLoader loader = new ConfigLoader(vertx, file.toString(), overrides);
    loaders.add(loader);
    return loader;
  }

  /** Replaces the file in one step, as a ConfigMap update or a careful editor does. */
  private Path write(String name, String content) throws IOException {
    Path target = dir.resolve(name);
    Path tmp = dir.resolve(name + ".tmp");
    Files.writeString(tmp, content);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return target;
  }

  private static Throwable failureOf(Future<?> future) {
    try {
      future.toCompletionStage().toCompletableFuture().get(GatewayHarness.WAIT.toMillis(),
          java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      return e.getCause();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("expected a failure");
  }

  @Test
  void readsYaml() throws IOException {
    GatewayConfig c = await(loader(write("config.yaml", VALID.formatted(8081)), null).load());
    assertEquals(List.of(GuestTarget.unix("vm-1", "/run/vm-1.sock")), c.guests());
    assertEquals(8081, c.http().port());
    assertEquals(5702, c.cluster().port());
  }

  @Test
  void readsJson() throws IOException {
    Path file = write("config.json", """
        {"guests": [{"name": "vm-2", "tcp": "127.0.0.1:4444"}],
         "http": {"port": 8082}, "policy": {"allow": ["guest-exec"]}}""");
    GatewayConfig c = await(loader(file, null).load());
    assertEquals(List.of(GuestTarget.tcp("vm-2", "127.0.0.1:4444")), c.guests());
    assertEquals(8082, c.http().port());
    assertEquals(new JsonArray().add("guest-exec"), c.policy().getJsonArray("allow"));
  }

  @Test
  void theKubernetesConfigMapLoadsFromAFile() throws IOException {
    GatewayConfig c = await(loader(write("config.yaml", ManifestsTest.configFromConfigMap()), null)
        .load());
    assertTrue(c.cluster().kubernetes());
    io.qgagateway.Gateway.rules(c);
  }

  @Test
  void aMissingOrBrokenFileOrAWrongKeyFailsNamingIt() throws IOException {
    Path missing = dir.resolve("missing.yaml");
    Throwable e = failureOf(loader(missing, null).load());
    assertInstanceOf(ConfigException.class, e);
    assertTrue(e.getMessage().startsWith("cannot read " + missing), e.getMessage());

    Path broken = write("broken.yaml", "http: [unclosed\n");
    e = failureOf(loader(broken, null).load());
    assertInstanceOf(ConfigException.class, e);
    assertTrue(e.getMessage().startsWith("cannot read " + broken), e.getMessage());

    Path typo = write("typo.yaml", "guests:\n  - name: a\n    socket: /a\n  - name: b\n    sockt: /b\n");
    e = failureOf(loader(typo, null).load());
    assertInstanceOf(ConfigException.class, e);
    assertEquals("guests[1].sockt: unknown key", e.getMessage());

    Path badJson = write("bad.json", "{\"http\": {\"prot\": 1}}");
    e = failureOf(loader(badJson, null).load());
    assertEquals("http.prot: unknown key", e.getMessage());
  }

  @Test
  void overridesWinAndMergeIntoTheFile() throws IOException {
    Path file = write("config.yaml", VALID.formatted(8081));
    GatewayConfig c = await(loader(file, new JsonObject()
        .put("cluster", new JsonObject().put("enabled", true))).load());
    assertTrue(c.cluster().enabled());
    assertEquals(5702, c.cluster().port(), "the file's other cluster keys stay");
  }

  @Test
  void environmentVariablesMapToTheirPathsWithTypes() {
    ConfigLoader loader = loader(dir.resolve("unused.yaml"),
        new JsonObject().put("http", new JsonObject().put("host", "10.0.0.1")));
    JsonObject merged = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 8080))
        .put("guests", new JsonArray())
        .put("QGA_NODE_NAME", "node-7")
        .put("QGA_HTTP_HOST", "0.0.0.0")
        .put("QGA_HTTP_PORT", " 9090 ")
        .put("QGA_HTTP_TOKEN", "s3cret")
        .put("QGA_BRIDGE_ENABLED", "yes")
        .put("QGA_BRIDGE_PORT", "7001")
        .put("QGA_CLUSTER", "TRUE")
        .put("QGA_CLUSTER_MEMBERS", "10.0.0.2, 10.0.0.3,,")
        .put("QGA_K8S_SERVICE_DNS", "gw.qga.svc.cluster.local")
        .put("QGA_POD_IP", "10.1.2.3")
        .put("QGA_LOG_JSON", "0")
        .put("QGA_METRICS_GUEST_LABEL", "1");
    JsonObject tree = loader.applyEnvironment(merged);
    assertTrue(tree.fieldNames().stream().noneMatch(k -> k.startsWith("QGA_")), tree.encode());
    assertFalse(merged.getJsonObject("http").containsKey("token"), "input untouched");
    assertEquals(new JsonObject().put("name", "node-7"), tree.getJsonObject("node"));
    assertEquals(new JsonObject().put("host", "10.0.0.1").put("port", 9090).put("token", "s3cret"),
        tree.getJsonObject("http"), "env over file, overrides over env");
    assertEquals(new JsonObject().put("enabled", true).put("port", 7001), tree.getJsonObject("bridge"));
    JsonObject cluster = tree.getJsonObject("cluster");
    assertEquals(true, cluster.getValue("enabled"));
    assertEquals(new JsonArray().add("10.0.0.2").add("10.0.0.3"), cluster.getJsonArray("members"));
    assertEquals(new JsonObject().put("serviceDns", "gw.qga.svc.cluster.local").put("enabled", true),
        cluster.getJsonObject("kubernetes"), "a service DNS name switches Kubernetes discovery on");
    assertEquals("10.1.2.3", cluster.getString("publicAddress"));
    assertEquals(false, tree.getJsonObject("logging").getValue("json"));
    assertEquals(true, tree.getJsonObject("metrics").getValue("guestLabel"));

    GatewayConfig c = GatewayConfig.parse(tree);
    assertEquals("node-7", c.nodeName());
    assertEquals(9090, c.http().port());
    assertEquals("s3cret", c.http().token());
    assertTrue(c.cluster().kubernetes());
    assertEquals("gw.qga.svc.cluster.local", c.cluster().serviceDns());
  }

  @Test
  void environmentCannotSwitchOnWhatTheFileSwitchedOff() {
    ConfigLoader loader = loader(dir.resolve("unused.yaml"), null);
    JsonObject tree = loader.applyEnvironment(new JsonObject()
        .put("cluster", new JsonObject().put("kubernetes", new JsonObject().put("enabled", false)))
        .put("QGA_K8S_SERVICE_DNS", "gw.qga.svc"));
    assertEquals(false, tree.getJsonObject("cluster").getJsonObject("kubernetes").getValue("enabled"));
    // an empty token means none
    tree = loader.applyEnvironment(new JsonObject().put("QGA_HTTP_TOKEN", ""));
    assertNull(GatewayConfig.parse(tree).http().token());
  }

  @Test
  void badEnvironmentValuesNameTheVariable() {
    ConfigLoader loader = loader(dir.resolve("unused.yaml"), null);
    ConfigException e = assertThrows(ConfigException.class,
        () -> loader.applyEnvironment(new JsonObject().put("QGA_HTTP_PORT", "80a")));
    assertEquals("QGA_HTTP_PORT: expected a number, got '80a'", e.getMessage());
    e = assertThrows(ConfigException.class,
        () -> loader.applyEnvironment(new JsonObject().put("QGA_BRIDGE_ENABLED", "maybe")));
    assertEquals("QGA_BRIDGE_ENABLED: expected true or false, got 'maybe'", e.getMessage());
    // a port out of range gets through the mapping and is named by its path
    JsonObject tree = loader.applyEnvironment(new JsonObject().put("QGA_HTTP_PORT", "99999"));
    e = assertThrows(ConfigException.class, () -> GatewayConfig.parse(tree));
    assertTrue(e.getMessage().startsWith("http.port: "), e.getMessage());
  }

  @Test
  void watchIgnoresABadEditReportingItOnceThenAppliesTheNextGoodOne() throws Exception {
    List<LogRecord> errors = new CopyOnWriteArrayList<>();
    Handler handler = new Handler() {
      @Override
      public void publish(LogRecord record) {
        if (record.getLevel().intValue() >= Level.SEVERE.intValue()) {
          errors.add(record);
        }
      }

      @Override
      public void flush() {
      }

      @Override
      public void close() {
      }
    };
    Logger logger = Logger.getLogger(ConfigLoader.class.getName());
    logger.addHandler(handler);
    try {
      Path file = write("config.yaml", VALID.formatted(8081));
      ConfigLoader loader = loader(file, null);
      assertEquals(8081, await(loader.load()).http().port());
      List<GatewayConfig> changes = new CopyOnWriteArrayList<>();
      loader.watch(40, changes::add);

      // unchanged: nothing happens
      Thread.sleep(200);
      assertTrue(changes.isEmpty());

      // an invalid edit: reported once, not applied
      write("config.yaml", VALID.formatted(8082) + "metrics: { guestLable: true }\n");
      waitFor("the bad edit reported", () -> !errors.isEmpty());
      Thread.sleep(400);
      assertTrue(changes.isEmpty(), "a bad edit is not applied: " + changes);
      assertEquals(1, errors.size(), "reported once: " + errors.stream()
          .map(LogRecord::getMessage).toList());
      assertTrue(errors.get(0).getMessage().contains("metrics.guestLable: unknown key"),
          errors.get(0).getMessage());

      // another invalid one (broken YAML) is a new problem: reported once more
      write("config.yaml", "guests: [unclosed\n");
      waitFor("the broken file reported", () -> errors.size() == 2);
      Thread.sleep(300);
      assertEquals(2, errors.size());
      assertTrue(changes.isEmpty());

      // a valid edit is applied, once
      write("config.yaml", VALID.formatted(9090));
      waitFor("the good edit applied", () -> !changes.isEmpty());
      Thread.sleep(300);
      assertEquals(1, changes.size(), changes.toString());
      assertEquals(9090, changes.get(0).http().port());
      assertEquals("vm-1", changes.get(0).guests().get(0).name());
      assertEquals(2, errors.size());
    } finally {
      logger.removeHandler(handler);
    }
  }
}
