package io.qgagateway.config;

import io.vertx.config.ConfigRetriever;
import io.vertx.config.ConfigRetrieverOptions;
import io.vertx.config.ConfigStoreOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Reads the configuration through vertx-config: the YAML or JSON file, then the documented
 * {@code QGA_*} environment variables over it, then validation.
 *
 * <p>Watching polls the stores itself instead of using the retriever's scan: that way a bad
 * edit is reported once (not a stack trace every scan) and the last good config stays.
 */
public final class ConfigLoader {

  private static final Logger log = LoggerFactory.getLogger(ConfigLoader.class);

  /** Environment variable → configuration path; the variable wins over the file. */
  public static final Map<String, String> ENVIRONMENT = Map.ofEntries(
      Map.entry("QGA_NODE_NAME", "node.name"),
      Map.entry("QGA_HTTP_HOST", "http.host"),
      Map.entry("QGA_HTTP_PORT", "http.port"),
      Map.entry("QGA_HTTP_TOKEN", "http.token"),
      Map.entry("QGA_AUTH_TOKENS_FILE", "auth.tokensFile"),
      Map.entry("QGA_BRIDGE_ENABLED", "bridge.enabled"),
      Map.entry("QGA_BRIDGE_PORT", "bridge.port"),
      // TLS files, e.g. from a cert-manager Secret mounted by k8s/components/cert-manager
      Map.entry("QGA_HTTP_TLS_CERT", "http.tls.cert"),
      Map.entry("QGA_HTTP_TLS_KEY", "http.tls.key"),
      Map.entry("QGA_HTTP_TLS_CLIENT_CA", "http.tls.clientCa"),
      Map.entry("QGA_HTTP_TLS_CLIENT_AUTH", "http.tls.clientAuth"),
      Map.entry("QGA_BRIDGE_TLS_CERT", "bridge.tls.cert"),
      Map.entry("QGA_BRIDGE_TLS_KEY", "bridge.tls.key"),
      Map.entry("QGA_BRIDGE_TLS_CLIENT_CA", "bridge.tls.clientCa"),
      Map.entry("QGA_BRIDGE_TLS_CLIENT_AUTH", "bridge.tls.clientAuth"),
      Map.entry("QGA_CLUSTER_TLS_CERT", "cluster.tls.cert"),
      Map.entry("QGA_CLUSTER_TLS_KEY", "cluster.tls.key"),
      Map.entry("QGA_CLUSTER_TLS_CA", "cluster.tls.ca"),
      Map.entry("QGA_CLUSTER", "cluster.enabled"),
      Map.entry("QGA_CLUSTER_MEMBERS", "cluster.members"),
      Map.entry("QGA_CLUSTER_MIN_PEERS", "cluster.minPeers"),
      Map.entry("QGA_K8S_SERVICE_DNS", "cluster.kubernetes.serviceDns"),
      Map.entry("QGA_POD_IP", "cluster.publicAddress"),
      Map.entry("QGA_LOG_JSON", "logging.json"),
      Map.entry("QGA_METRICS_GUEST_LABEL", "metrics.guestLabel"));

  private static final List<String> NUMBERS =
      List.of("http.port", "bridge.port", "cluster.minPeers");
  private static final List<String> BOOLEANS =
      List.of("bridge.enabled", "cluster.enabled", "logging.json", "metrics.guestLabel");

  private final Vertx vertx;
  private final String path;
  private final JsonObject overrides;
  private final ConfigRetriever retriever;
  private long watchTimer = -1;
  private JsonObject lastRaw;
  private String lastProblem;

  /**
   * @param overrides applied last, e.g. {@code --cluster} as {"cluster": {"enabled": true}}
   */
  public ConfigLoader(Vertx vertx, String path, JsonObject overrides) {
    this.vertx = vertx;
    this.path = path;
    this.overrides = overrides == null ? new JsonObject() : overrides;
    String format = path.endsWith(".json") ? "json" : "yaml";
    ConfigStoreOptions file = new ConfigStoreOptions().setType("file").setFormat(format)
        .setConfig(new JsonObject().put("path", path));
    ConfigStoreOptions env = new ConfigStoreOptions().setType("env")
        .setConfig(new JsonObject().put("raw-data", true)
            .put("keys", new JsonArray(List.copyOf(ENVIRONMENT.keySet()))));
    this.retriever = ConfigRetriever.create(vertx, new ConfigRetrieverOptions()
        .setScanPeriod(0).addStore(file).addStore(env));
  }

  /** Reads and validates once; fails with a message that names the file or the key. */
  public Future<GatewayConfig> load() {
    return read().map(raw -> {
      lastRaw = raw;
      return GatewayConfig.parse(raw.copy());
    });
  }

  /**
   * Re-reads every {@code intervalMs}; a valid change goes to {@code onChange}, a bad one is
   * logged once and ignored.
   */
  public void watch(long intervalMs, Consumer<GatewayConfig> onChange) {
    watchTimer = vertx.setPeriodic(intervalMs, id -> read()
        .map(raw -> {
          if (raw.equals(lastRaw)) {
            lastProblem = null;
            return null;
          }
          if (fileEmpty(raw) && !fileEmpty(lastRaw)) {
            // most likely caught mid-save by a non-atomic writer; an empty file would remove
            // every static guest and thaw frozen ones, so it is never applied at run time
            throw new ConfigException("the file is empty");
          }
          GatewayConfig parsed = GatewayConfig.parse(raw.copy());
          lastRaw = raw;
          lastProblem = null;
          log.info("configuration " + path + " changed; applying it");
          onChange.accept(parsed);
          return null;
        })
        .onFailure(e -> {
          String problem = e.getMessage();
          if (!problem.equals(lastProblem)) {
            lastProblem = problem;
            log.error("configuration " + path + " is not valid, keeping the last good one: "
                + problem);
          }
        }));
  }

  public void close() {
    if (watchTimer >= 0) {
      vertx.cancelTimer(watchTimer);
    }
    retriever.close();
  }

  /** Nothing from the file: only environment overrides, or nothing at all. */
  private boolean fileEmpty(JsonObject raw) {
    return raw == null || raw.equals(deepMerge(applyEnvironment(new JsonObject()),
        new JsonObject()));
  }

  private Future<JsonObject> read() {
    return retriever.getConfig()
        .recover(e -> Future.failedFuture(new ConfigException("cannot read " + path + ": "
            + rootMessage(e))))
        .map(this::applyEnvironment);
  }

  /**
   * Moves the {@code QGA_*} variables the env store added at the top level to their paths, then
   * applies the overrides. Package-visible so tests can check the mapping without a process
   * environment.
   */
  JsonObject applyEnvironment(JsonObject merged) {
    JsonObject tree = merged.copy();
    for (Map.Entry<String, String> e : ENVIRONMENT.entrySet()) {
      Object value = tree.remove(e.getKey());
      if (value != null) {
        put(tree, e.getValue(), convert(e.getKey(), e.getValue(), String.valueOf(value)));
      }
    }
    if (tree.getValue("cluster") instanceof JsonObject cluster
        && cluster.getValue("kubernetes") instanceof JsonObject k8s
        && k8s.getValue("serviceDns") != null && !k8s.containsKey("enabled")) {
      k8s.put("enabled", true);
    }
    return deepMerge(tree, overrides);
  }

  private static Object convert(String variable, String path, String value) {
    if (NUMBERS.contains(path)) {
      try {
        return Integer.parseInt(value.trim());
      } catch (NumberFormatException e) {
        throw new ConfigException(variable + ": expected a number, got '" + value + "'");
      }
    }
    if (BOOLEANS.contains(path)) {
      return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
        case "true", "1", "yes" -> true;
        case "false", "0", "no", "" -> false;
        default -> throw new ConfigException(variable + ": expected true or false, got '"
            + value + "'");
      };
    }
    if (path.equals("cluster.members")) {
      JsonArray members = new JsonArray();
      for (String m : value.split(",")) {
        if (!m.isBlank()) {
          members.add(m.trim());
        }
      }
      return members;
    }
    return value;
  }

  private static void put(JsonObject tree, String path, Object value) {
    String[] parts = path.split("\\.");
    JsonObject at = tree;
    for (int i = 0; i < parts.length - 1; i++) {
      Object next = at.getValue(parts[i]);
      if (!(next instanceof JsonObject)) {
        next = new JsonObject();
        at.put(parts[i], next);
      }
      at = (JsonObject) next;
    }
    at.put(parts[parts.length - 1], value);
  }

  private static JsonObject deepMerge(JsonObject base, JsonObject over) {
    for (String key : over.fieldNames()) {
      Object value = over.getValue(key);
      if (value instanceof JsonObject o && base.getValue(key) instanceof JsonObject b) {
        deepMerge(b, o);
      } else {
        base.put(key, value);
      }
    }
    return base;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String message = t.getMessage() == null ? t.toString() : t.getMessage();
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }
}
