package io.qgagateway.metrics;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.k8s.ManifestsTest;
import io.qgagateway.link.LinkState;
import io.qgagateway.sim.ReplyWriter;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.Faults;
import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.qgagateway.testing.GatewayHarness.await;
import static io.qgagateway.testing.GatewayHarness.body;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A real gateway, real commands and faults, then {@code GET /metrics} over HTTP: the names,
 * labels and counts of METRICS.md, and every series the k8s alerts and dashboard query.
 */
@ExtendWith(VertxExtension.class)
class MetricsScrapeTest {

  private static final String A = "sim-a";
  private static final String B = "sim-b";

  private GatewayHarness h;
  private PrometheusMeterRegistry registry;

  @BeforeEach
  void setUp(Vertx vertx, @TempDir Path dir) {
    h = new GatewayHarness(vertx, dir);
    registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  }

  @AfterEach
  void tearDown() {
    h.close();
    registry.close();
  }

  private void start(boolean guestLabel) {
    // A answers guest-get-timezone too late (a timeout, then a stale reply); B blocks get-osinfo
    h.agent(A, SimulatedAgent.Options.DEFAULTS.withWriter(Faults.delaying("guest-get-timezone", 800)));
    h.agent(B, SimulatedAgent.Options.DEFAULTS.withBlocked("guest-get-osinfo"));
    JsonObject config = h.config(A, B)
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("metrics", new JsonObject().put("guestLabel", guestLabel));
    h.start(config, registry);
    h.awaitReady(A, B);
  }

  /** ok, forbidden, unknown guest, unsupported, manual sync, sent (+ resync), timeout. */
  private void runCommands() {
    h.call("ping", body(A));
    h.call("ping", body(B));
    h.failure("exec", body(A).put("arguments", new JsonObject().put("path", "/bin/true")));
    h.failure("ping", body("nope"));
    h.failure("get-osinfo", body(B));
    h.failure("fstrim", body(A).put("arguments", new JsonObject().put("bogus", 1)));
    h.call("sync", body(A));
    assertTrue(h.call("shutdown", body(B)).getBoolean("sent"));
    h.failure("get-timezone", body(A).put("timeoutMs", 200));
    // in sync again once the late reply was dropped
    h.call("get-host-name", body(A));
    h.call("get-host-name", body(B));
  }

  private Scrape scrape() {
    HttpClient client = h.vertx.createHttpClient();
    try {
      // the body is read in the same chain: a response is not buffered for a later reader
      String text = await(client.request(HttpMethod.GET, h.gateway.httpPort(), "127.0.0.1",
          "/metrics").compose(HttpClientRequest::send).compose(response -> {
            assertEquals(200, response.statusCode());
            assertTrue(response.getHeader("content-type").startsWith("text/plain"),
                response.getHeader("content-type"));
            return response.body();
          })).toString();
      return new Scrape(text);
    } finally {
      await(client.close());
    }
  }

  @Test
  void everyDocumentedSeriesWithItsLabelsAndCounts() {
    start(false);
    runCommands();
    Scrape s = scrape();

    for (String name : List.of("qga_command_duration_seconds_bucket",
        "qga_command_duration_seconds_count", "qga_command_duration_seconds_sum",
        "qga_resyncs_total", "qga_sync_duration_seconds_bucket", "qga_sync_duration_seconds_count",
        "qga_sync_duration_seconds_sum", "qga_discarded_total", "qga_guests",
        "qga_connects_total", "qga_disconnects_total", "qga_queue_depth", "qga_frozen_guests",
        "qga_auto_thaws_total")) {
      assertTrue(s.names().contains(name), name + " missing; names: " + s.names());
    }
    for (String reason : List.of("connect", "timeout", "protocol_error", "after_no_response",
        "manual")) {
      s.value("qga_resyncs_total", "reason", reason);
    }
    for (String kind : List.of("stale_reply", "stray_error", "garbage", "oversized")) {
      s.value("qga_discarded_total", "kind", kind);
    }
    for (String state : List.of("connecting", "syncing", "ready", "disconnected")) {
      s.value("qga_guests", "state", state);
    }

    // commands, by command and outcome
    String count = "qga_command_duration_seconds_count";
    assertEquals(2, s.value(count, "command", "guest-ping", "outcome", "ok"));
    assertEquals(1, s.value(count, "command", "guest-exec", "outcome", "forbidden"));
    assertEquals(1, s.value(count, "command", "guest-ping", "outcome", "unknown_guest"));
    assertEquals(1, s.value(count, "command", "guest-get-osinfo", "outcome", "unsupported"));
    assertEquals(1, s.value(count, "command", "guest-fstrim", "outcome", "bad_request"));
    assertEquals(1, s.value(count, "command", "sync", "outcome", "ok"));
    assertEquals(1, s.value(count, "command", "guest-shutdown", "outcome", "sent"));
    assertEquals(1, s.value(count, "command", "guest-get-timezone", "outcome", "timeout"));
    assertEquals(2, s.value(count, "command", "guest-get-host-name", "outcome", "ok"));
    assertEquals(1, s.value("qga_command_duration_seconds_bucket", "command", "guest-exec",
        "outcome", "forbidden", "le", "+Inf"));
    assertTrue(s.series("qga_command_duration_seconds_bucket").size() > 20 * 9,
        "fixed buckets per series");
    double timeoutSeconds = s.value("qga_command_duration_seconds_sum", "command",
        "guest-get-timezone", "outcome", "timeout");
    assertTrue(timeoutSeconds >= 0.19 && timeoutSeconds < 2, "timeout took " + timeoutSeconds);

    // link lifecycle
    assertEquals(2, s.value("qga_connects_total"));
    assertEquals(0, s.value("qga_disconnects_total"));
    assertEquals(2, s.value("qga_resyncs_total", "reason", "connect"));
    assertEquals(1, s.value("qga_resyncs_total", "reason", "manual"));
    assertEquals(1, s.value("qga_resyncs_total", "reason", "after_no_response"));
    assertEquals(1, s.value("qga_resyncs_total", "reason", "timeout"));
    assertEquals(0, s.value("qga_resyncs_total", "reason", "protocol_error"));
    assertEquals(5, s.value("qga_sync_duration_seconds_count"));
    // the late timezone reply, dropped while resyncing; every full sync's 0xFF earns a stray
    // error (the sync pipelined behind the shutdown has no 0xFF)
    assertEquals(1, s.value("qga_discarded_total", "kind", "stale_reply"));
    assertTrue(s.value("qga_discarded_total", "kind", "stray_error") >= 4);
    assertEquals(0, s.value("qga_discarded_total", "kind", "garbage"));
    assertEquals(0, s.value("qga_discarded_total", "kind", "oversized"));
    assertEquals(2, s.value("qga_guests", "state", "ready"));
    assertEquals(2, s.value("qga_reply_matching_guests", "mode", "id"));
    assertEquals(0, s.value("qga_reply_matching_guests", "mode", "order"));
    assertEquals(0, s.value("qga_guests", "state", "disconnected"));
    assertEquals(0, s.value("qga_queue_depth"));
    assertEquals(0, s.value("qga_frozen_guests"));
    assertEquals(0, s.value("qga_auto_thaws_total"));
    assertTrue(s.series("qga_resyncs_total").stream().noneMatch(l -> l.containsKey("guest")),
        "no guest label by default");

    // fault: B's agent goes away
    await(h.agents.get(B).close());
    GatewayHarness.waitFor("B not ready", () -> h.link(B).state() != LinkState.READY);
    Scrape after = scrape();
    assertEquals(1, after.value("qga_disconnects_total"));
    assertEquals(1, after.value("qga_guests", "state", "ready"));
    assertEquals(1, after.value("qga_guests", "state", "disconnected")
        + after.value("qga_guests", "state", "connecting"));
    // frozen and queued show up in their gauges
    h.call("fsfreeze-freeze", body(A).put("autoThawMs", 0));
    assertEquals(1, scrape().value("qga_frozen_guests"));
    h.call("fsfreeze-thaw", body(A));
    assertEquals(0, scrape().value("qga_frozen_guests"));
  }

  @Test
  void protocolErrorsCountAsGarbageOrOversizedAndResync() {
    // get-users: garbage before the reply; get-load: a reply over link.maxReplyBytes
    ReplyWriter faulty = (exchange, port) -> {
      if ("guest-get-users".equals(exchange.command())) {
        port.write(Buffer.buffer("garbage!\n"));
      } else if ("guest-get-load".equals(exchange.command())) {
        return port.write(new JsonObject().put("return", "x".repeat(10_000)).toBuffer()
            .appendString("\n"));
      }
      return ReplyWriter.DIRECT.write(exchange, port);
    };
    h.agent(A, SimulatedAgent.Options.DEFAULTS.withWriter(faulty));
    h.start(h.config(A).put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("link", new JsonObject().put("maxReplyBytes", 8192)), registry);
    h.awaitReady(A);
    ReplyException garbage = h.failure("get-users", body(A));
    assertEquals(502, garbage.failureCode());
    assertTrue(garbage.getMessage().startsWith("ProtocolError: "), garbage.getMessage());
    h.call("ping", body(A));
    ReplyException oversized = h.failure("get-load", body(A));
    assertEquals(502, oversized.failureCode());
    assertTrue(oversized.getMessage().startsWith("ProtocolError: "), oversized.getMessage());
    h.call("ping", body(A));

    Scrape s = scrape();
    assertEquals(2, s.value("qga_resyncs_total", "reason", "protocol_error"));
    assertEquals(1, s.value("qga_discarded_total", "kind", "garbage"));
    assertEquals(1, s.value("qga_discarded_total", "kind", "oversized"));
    assertEquals(1, s.value("qga_command_duration_seconds_count", "command", "guest-get-users",
        "outcome", "agent_error"));
    assertEquals(1, s.value("qga_guests", "state", "ready"));
  }

  @Test
  void everySeriesTheManifestsQueryIsInARealScrape() {
    start(false);
    runCommands();
    Set<String> scraped = scrape().names();
    Set<String> used = ManifestsTest.metricNamesUsedByManifests();
    assertFalse(used.isEmpty());
    Set<String> missing = new TreeSet<>(used);
    missing.removeAll(scraped);
    assertTrue(missing.isEmpty(), "queried by k8s/ but not exported: " + missing);
  }

  @Test
  void guestLabelAddsTheGuest() {
    start(true);
    runCommands();
    Scrape s = scrape();
    String count = "qga_command_duration_seconds_count";
    assertEquals(1, s.value(count, "command", "guest-ping", "outcome", "ok", "guest", A));
    assertEquals(1, s.value(count, "command", "guest-ping", "outcome", "ok", "guest", B));
    // a guest that does not exist gets no series of its own: callers cannot grow the registry
    assertEquals(1, s.value(count, "command", "guest-ping", "outcome", "unknown_guest",
        "guest", ""));
    assertTrue(s.series(count).stream().noneMatch(l -> "nope".equals(l.get("guest"))));
    assertEquals(1, s.value("qga_resyncs_total", "reason", "connect", "guest", A));
    assertEquals(1, s.value("qga_resyncs_total", "reason", "manual", "guest", A));
    assertEquals(1, s.value("qga_resyncs_total", "reason", "after_no_response", "guest", B));
    assertEquals(1, s.value("qga_discarded_total", "kind", "stale_reply", "guest", A));
    for (Map<String, String> labels : s.series(count)) {
      assertTrue(labels.containsKey("guest"), "every command series has a guest: " + labels);
    }
    assertEquals(2, s.value("qga_guests", "state", "ready"));
    assertEquals(2, s.value("qga_reply_matching_guests", "mode", "id"));
    assertEquals(0, s.value("qga_reply_matching_guests", "mode", "order"));
  }

  /** A parsed Prometheus text exposition. */
  private record Scrape(String text, List<Sample> samples) {

    private static final Pattern LINE =
        Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})?\\s+(\\S+)(?:\\s+\\d+)?$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    record Sample(String name, Map<String, String> labels, double value) {
    }

    Scrape(String text) {
      this(text, parse(text));
    }

    private static List<Sample> parse(String text) {
      List<Sample> out = new ArrayList<>();
      for (String line : text.split("\n")) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        Matcher m = LINE.matcher(line);
        if (!m.matches()) {
          fail("not a sample line: " + line);
        }
        Map<String, String> labels = new LinkedHashMap<>();
        if (m.group(2) != null) {
          Matcher l = LABEL.matcher(m.group(2));
          while (l.find()) {
            labels.put(l.group(1), l.group(2));
          }
        }
        out.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(3))));
      }
      return out;
    }

    Set<String> names() {
      Set<String> names = new TreeSet<>();
      samples.forEach(s -> names.add(s.name()));
      return names;
    }

    List<Map<String, String>> series(String name) {
      return samples.stream().filter(s -> s.name().equals(name)).map(Sample::labels).toList();
    }

    /** The value of the one series with exactly these labels. */
    double value(String name, String... labelPairs) {
      Map<String, String> want = new LinkedHashMap<>();
      for (int i = 0; i < labelPairs.length; i += 2) {
        want.put(labelPairs[i], labelPairs[i + 1]);
      }
      List<Sample> found = samples.stream()
          .filter(s -> s.name().equals(name) && s.labels().equals(want)).toList();
      if (found.size() != 1) {
        fail(found.size() + " series " + name + want + "; there are " + series(name));
      }
      return found.get(0).value();
    }
  }
}
