package io.qgagateway.fleet;

import io.qgagateway.fleet.LoadRecorder.Sample;
import io.qgagateway.fleet.ProcessCluster.Member;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three gateway processes (A, B, C; real Hazelcast on loopback), each holding its own guests,
 * under steady mixed load through HTTP and the TCP bridge of the survivors, while a member is
 * killed (kill -9), comes back, hangs (SIGSTOP), resumes (SIGCONT) and stops (SIGTERM). The
 * outcomes of issue 12:
 * <ul>
 *   <li>callers of healthy members' guests see no error and no request over 1 s;</li>
 *   <li>callers of the lost member's guests are answered within 5 s, with 503 "held by X,
 *   unreachable", never 404 (within the retention), never without an answer;</li>
 *   <li>a long request in flight when its holder goes fails with 503 naming it within 5 s,
 *   not at its deadline;</li>
 *   <li>the guest listing answers within 200 ms while a member hangs, marking what it could
 *   not ask;</li>
 *   <li>a member that resumes takes requests again: its guests answer through the others,
 *   each guest is listed once by every member;</li>
 *   <li>event-bus callers of a member stopping on SIGTERM are answered (it withdraws its
 *   {@code agent.*} registrations before its handlers go);</li>
 *   <li>a member left alone is not ready ({@code cluster.minPeers: 1}).</li>
 * </ul>
 * The measured windows are printed (and reported in docs/BENCHMARKS.md).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class ClusterFailuresProcessIT {

  /** The bounds of the issue. */
  private static final long HEALTHY_MAX_MS = 1_000;
  private static final long LOST_MAX_MS = 5_000;
  private static final long LISTING_MAX_MS = 200;
  /** How long the load runs after each event. */
  private static final long AFTER_MS = 9_000;
  private static final long REQUEST_TIMEOUT_MS = 10_000;

  @TempDir
  Path dir;

  private ProcessCluster cluster;
  private io.vertx.core.Vertx client;
  private final List<String> report = new ArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    // the fourth Hazelcast port is the event-bus client's
    cluster = new ProcessCluster(dir, 4);
    cluster.clusterExtra = "  unreachableRetentionMs: 120000\n  minPeers: 1\n";
    cluster.agents("a-1", "a-2", "b-1", "b-2", "b-slow", "c-1", "c-2", "c-slow");
  }

  @AfterEach
  void tearDown() throws Exception {
    report.forEach(l -> System.out.println("ClusterFailuresProcessIT: " + l));
    try {
      if (client != null) {
        client.close().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
    } finally {
      cluster.close();
    }
  }

  @Test
  void killStopAndTermOfAMemberUnderLoad() throws Exception {
    Member[] started = {cluster.start(0, "A", "a-1", "a-2"),
        cluster.start(1, "B", "b-1", "b-2", "b-slow"),
        cluster.start(2, "C", "c-1", "c-2", "c-slow")};
    Member a = cluster.awaitStarted(started[0]);
    Member b = cluster.awaitStarted(started[1]);
    Member c = cluster.awaitStarted(started[2]);
    for (Member m : List.of(a, b, c)) {
      cluster.awaitReady(m);
    }
    awaitListed(a, 8, 8);
    client = ExactlyOnceProcessIT.joinAsClient(cluster);

    // ---- kill -9 C -------------------------------------------------------------------------
    Set<String> cGuests = Set.of("c-1", "c-2");
    Set<String> abGuests = Set.of("a-1", "a-2", "b-1", "b-2");
    long t;
    CompletableFuture<Timed> inFlight;
    try (LoadRecorder load = new LoadRecorder(cluster, REQUEST_TIMEOUT_MS)) {
      load.http(a, "a-1", "b-1", "c-1").http(b, "a-2", "b-2", "c-2")
          .bridge(a, "b-2", "c-2").bridge(b, "a-1", "c-1").bus(client, "a-1", "b-1", "c-1", "a-2");
      inFlight = fstrim(a, "c-slow");
      Thread.sleep(2_000);
      t = System.currentTimeMillis();
      c.process().destroyForcibly();
      Thread.sleep(AFTER_MS);
      judge("kill -9 C", load, t, abGuests, cGuests, "C", Set.of(503));
      judgeInFlight("kill -9 C", inFlight, t, "C");
    }
    HttpResponse<String> listed = timedListing(a, "after kill -9 C");
    for (String g : List.of("c-1", "c-2", "c-slow")) {
      JsonObject e = entry(listed, g);
      assertEquals(false, e.getBoolean("reachable"), e.encode());
      assertEquals(false, e.getBoolean("described"), e.encode());
    }
    HttpResponse<String> viaB = cluster.post(b, "/v1/guests/c-1/commands/ping", "{}");
    assertEquals(503, viaB.statusCode(), viaB.body());
    assertTrue(viaB.body().contains("held by C, unreachable"), viaB.body());

    // ---- C comes back under its name: its record replaces the old one at once ---------------
    long restarted = System.currentTimeMillis();
    c = cluster.awaitReady(cluster.awaitStarted(cluster.start(2, "C", "c-1", "c-2", "c-slow")));
    Member back = c;
    cluster.eventually(a, "c-1 answers through A again",
        () -> cluster.post(a, "/v1/guests/c-1/commands/ping", "{}"), r -> r.statusCode() == 200);
    report.add("C restarted: c-1 answered through A " + (System.currentTimeMillis() - restarted)
        + " ms after the process was started");
    awaitListed(a, 8, 8);
    HttpResponse<String> relisted = cluster.get(a, "/v1/guests");
    assertEquals(1, new JsonObject(relisted.body()).getJsonArray("guests").stream()
        .filter(g -> "c-1".equals(((JsonObject) g).getString("name"))).count(),
        "the old record of C is gone: " + relisted.body());

    // ---- SIGSTOP B ---------------------------------------------------------------------------
    Set<String> bGuests = Set.of("b-1", "b-2");
    Set<String> acGuests = Set.of("a-1", "a-2", "c-1", "c-2");
    List<Long> listings = new ArrayList<>();
    try (LoadRecorder load = new LoadRecorder(cluster, REQUEST_TIMEOUT_MS)) {
      load.http(a, "a-1", "c-1", "b-1").http(back, "a-2", "c-2", "b-2")
          .bridge(a, "c-2", "b-1").bus(client, "a-1", "c-1", "b-1", "a-2");
      inFlight = fstrim(a, "b-slow");
      Thread.sleep(2_000);
      ProcessCluster.signal(b, "STOP");
      // after kill(1) has returned: the signal is delivered
      t = System.currentTimeMillis();
      // while B hangs and is still a member: the listing does not wait for it
      Thread.sleep(300);
      for (int i = 0; i < 5; i++) {
        long t0 = System.nanoTime();
        HttpResponse<String> l = cluster.get(a, "/v1/guests");
        listings.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        assertEquals(200, l.statusCode(), l.body());
        JsonObject b1 = entry(l, "b-1");
        assertEquals(false, b1.getBoolean("described"), b1.encode());
        Thread.sleep(150);
      }
      Thread.sleep(Math.max(0, AFTER_MS - (System.currentTimeMillis() - t)));
      judge("SIGSTOP B", load, t, acGuests, bGuests, "B", Set.of(503));
      judgeInFlight("SIGSTOP B", inFlight, t, "B");
    }
    List<Long> sorted = new ArrayList<>(listings);
    sorted.sort(null);
    report.add("SIGSTOP B: GET /v1/guests on A while B hangs took " + listings + " ms");
    assertTrue(sorted.get(sorted.size() / 2) < LISTING_MAX_MS, "listing with a hung member: "
        + listings + " ms");

    // ---- SIGCONT B after Hazelcast removed it: a split that heals ---------------------------
    cluster.eventually(a, "A sees B leave the cluster", () -> cluster.get(a, "/v1/guests"),
        r -> entry(r, "b-1").getString("lastError", "").contains("left the cluster"));
    long resumed = System.currentTimeMillis();
    ProcessCluster.signal(b, "CONT");
    cluster.eventually(a, "b-1 answers through A again",
        () -> cluster.post(a, "/v1/guests/b-1/commands/ping", "{}"), r -> r.statusCode() == 200);
    report.add("SIGCONT B (removed from the cluster while stopped): b-1 answered through A "
        + (System.currentTimeMillis() - resumed) + " ms after SIGCONT");
    // every guest listed once, ready, by each member: no double holder
    for (Member m : List.of(a, b, back)) {
      awaitListed(m, 8, 8);
    }
    for (Member m : List.of(a, back)) {
      cluster.eventually(m, "B's guests through " + m.name(),
          () -> cluster.post(m, "/v1/guests/b-2/commands/ping", "{}"), r -> r.statusCode() == 200);
    }
    HttpResponse<String> fromB = cluster.post(b, "/v1/guests/a-1/commands/ping", "{}");
    assertEquals(200, fromB.statusCode(), fromB.body());
    // the next phases start from a healthy cluster: all three members answer
    cluster.eventually(a, "A sees three members", () -> cluster.get(a, "/metrics"),
        r -> cluster.metric(a, "qga_cluster_members") == 3);

    // ---- a short hang of C (SIGSTOP, SIGCONT within failure detection): no split -------------
    long leftBefore = cluster.logLines("member C (").stream()
        .filter(l -> l.contains("left the cluster")).count();
    ProcessCluster.signal(back, "STOP");
    long stopped = System.currentTimeMillis();
    HttpResponse<String> hung = cluster.eventually(a, "c-1 unreachable while C hangs",
        () -> cluster.post(a, "/v1/guests/c-1/commands/ping", "{}"), r -> r.statusCode() == 503);
    long silentAfter = System.currentTimeMillis() - stopped;
    assertTrue(hung.body().contains("held by C, unreachable: ")
        && hung.body().contains("stopped answering"), hung.body());
    ProcessCluster.signal(back, "CONT");
    long continued = System.currentTimeMillis();
    cluster.eventually(a, "c-1 answers again", () -> cluster.post(a,
        "/v1/guests/c-1/commands/ping", "{}"), r -> r.statusCode() == 200);
    long answering = System.currentTimeMillis() - continued;
    report.add("short hang of C: c-1 answered 503 'stopped answering' through A " + silentAfter
        + " ms after SIGSTOP, 200 again " + answering + " ms after SIGCONT");
    assertTrue(answering < LOST_MAX_MS, "C answers " + answering + " ms after SIGCONT");
    assertEquals(leftBefore, cluster.logLines("member C (").stream()
        .filter(l -> l.contains("left the cluster")).count(), "C stayed a member: no split");
    assertEquals(3.0, cluster.metric(a, "qga_cluster_members"));

    // ---- SIGTERM C ---------------------------------------------------------------------------
    Set<String> abGuests2 = Set.of("a-1", "a-2", "b-1", "b-2");
    try (LoadRecorder load = new LoadRecorder(cluster, REQUEST_TIMEOUT_MS)) {
      load.http(a, "a-1", "c-1", "b-1").http(b, "a-2", "c-2").bridge(a, "a-2", "c-2")
          .bridge(b, "b-2", "c-1").bus(client, "a-1", "c-1", "b-2");
      inFlight = fstrim(a, "c-slow");
      Thread.sleep(2_000);
      t = System.currentTimeMillis();
      back.process().destroy();
      Thread.sleep(AFTER_MS);
      // while it drains, C may still answer; then 503, never 404
      judge("SIGTERM C", load, t, abGuests2, cGuests, "C", Set.of(200, 503));
      // C withdrew its agent.* registrations before its handlers went: event-bus callers
      // were answered by C or by another member, none waited out its timeout
      long termAt = t;
      List<Sample> busLate = LoadRecorder.where(load.samples(), x -> x.via().equals("bus")
          && x.sentAtMillis() >= termAt - 1_000 && (x.code() != 200 && x.code() != 503
          || x.tookMillis() > HEALTHY_MAX_MS));
      assertTrue(busLate.isEmpty(), "SIGTERM C: event-bus callers: " + busLate);
      assertTrue(load.busWaiting().isEmpty(), "SIGTERM C: event-bus requests unanswered: "
          + load.busWaiting());
      judgeInFlight("SIGTERM C", inFlight, t, null);
    }
    assertTrue(back.process().waitFor(30, TimeUnit.SECONDS), "C exits on SIGTERM");
    timedListing(a, "after SIGTERM C");
    // A is alone: with cluster.minPeers 1 it is not ready
    b.process().destroyForcibly();
    cluster.eventually(a, "A not ready alone", () -> cluster.get(a, "/health/ready"),
        r -> r.statusCode() == 503);
    HttpResponse<String> ready = cluster.get(a, "/health/ready");
    assertEquals(0, new JsonObject(ready.body()).getJsonObject("checks").getInteger("peers"),
        ready.body());
  }

  /**
   * Healthy guests: every request answered 200 within 1 s. The lost member's guests: every
   * request sent after the event answered within 5 s, with one of {@code codes}, never 404 and
   * never without an answer; the 503s name the member.
   */
  private void judge(String event, LoadRecorder load, long t, Set<String> healthy,
                     Set<String> lost, String member, Set<Integer> codes) {
    long end = t + AFTER_MS;
    List<Sample> before = load.of(healthy, 0, t);
    List<Sample> ok = load.of(healthy, t, end);
    List<Sample> gone = load.of(lost, t, end);
    List<Sample> held = LoadRecorder.where(gone, s -> s.code() == 503
        && s.message() != null && s.message().contains("held by " + member + ", unreachable"));
    long detected = held.stream().mapToLong(s -> s.sentAtMillis() + s.tookMillis() - t).min()
        .orElse(-1);
    report.add(String.format("%s: healthy guests %d requests %s, p50 %d ms, p99 %d ms, max %d ms"
            + " (before: max %d ms); lost member's guests %d requests %s, max %d ms; first 503 "
            + "'held by %s, unreachable' %d ms after the event", event, ok.size(),
        LoadRecorder.codes(ok), LoadRecorder.percentile(ok, 0.5),
        LoadRecorder.percentile(ok, 0.99), LoadRecorder.max(ok), LoadRecorder.max(before),
        gone.size(), LoadRecorder.codes(gone), LoadRecorder.max(gone), member, detected));
    List<Sample> busOk = load.ofBus(healthy, t, end);
    List<Sample> busGone = load.ofBus(lost, t, end);
    report.add(String.format("%s: event-bus client (not judged: Vert.x picks the member): "
            + "healthy guests %s max %d ms, failures %s; lost member's guests %s max %d ms, "
            + "other than 503: %s; all its samples of the phase: %d",
        event, LoadRecorder.codes(busOk), LoadRecorder.max(busOk),
        LoadRecorder.where(busOk, x -> x.code() != 200), LoadRecorder.codes(busGone),
        LoadRecorder.max(busGone), LoadRecorder.where(busGone, x -> x.code() != 503),
        load.samples().stream().filter(x -> x.via().equals("bus")).count()));
    report.add(event + ": event-bus client requests of the phase that failed other than 503 or "
        + "took over 1 s: " + LoadRecorder.where(load.samples(), x -> x.via().equals("bus")
        && (x.code() != 200 && x.code() != 503 || x.tookMillis() > 1_000))
        + "; unanswered at the end of the window (ms waited): " + load.busWaiting());
    assertFalse(ok.isEmpty(), event + ": no load on healthy guests");
    assertFalse(gone.isEmpty(), event + ": no load on the lost member's guests");
    List<Sample> bad = LoadRecorder.where(ok, s -> s.code() != 200
        || s.tookMillis() >= HEALTHY_MAX_MS);
    assertTrue(bad.isEmpty(), event + ": healthy guests must see no error and no request over "
        + HEALTHY_MAX_MS + " ms: " + bad);
    List<Sample> late = LoadRecorder.where(gone, s -> !codes.contains(s.code())
        || s.tookMillis() >= LOST_MAX_MS);
    assertTrue(late.isEmpty(), event + ": the lost member's guests must be answered " + codes
        + " within " + LOST_MAX_MS + " ms: " + late);
    if (!codes.contains(200)) {
      assertFalse(held.isEmpty(), event + ": 503 held by " + member + ": " + gone);
    }
  }

  /** A request that was in flight at the event: failed 503 within 5 s, naming the holder. */
  private void judgeInFlight(String event, CompletableFuture<Timed> inFlight, long t,
                             String member) throws Exception {
    Timed r = inFlight.get(60, TimeUnit.SECONDS);
    long after = r.doneAtMillis() - t;
    report.add(event + ": fstrim in flight since " + (t - r.sentAtMillis()) + " ms before the "
        + "event answered " + r.response().statusCode() + " " + after + " ms after it: "
        + r.response().body());
    assertEquals(503, r.response().statusCode(), r.response().body());
    if (member != null) {
      assertTrue(r.response().body().contains("held by " + member + ", unreachable"),
          r.response().body());
    }
    assertTrue(after < LOST_MAX_MS, event + ": the in-flight request answered " + after
        + " ms after the event");
  }

  private record Timed(long sentAtMillis, long doneAtMillis, HttpResponse<String> response) {
  }

  /** An fstrim of 30 s (the agent takes a minute), through {@code entry}'s HTTP API. */
  private CompletableFuture<Timed> fstrim(Member entry, String guest) {
    long sent = System.currentTimeMillis();
    return cluster.http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + entry.httpPort() + "/v1/guests/" + guest + "/commands/fstrim?timeoutMs=30000"))
            .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8))
        .thenApply(r -> new Timed(sent, System.currentTimeMillis(), r));
  }

  private HttpResponse<String> timedListing(Member m, String when) throws Exception {
    long t0 = System.nanoTime();
    HttpResponse<String> r = cluster.get(m, "/v1/guests");
    long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    report.add("GET /v1/guests on " + m.name() + " " + when + ": " + took + " ms");
    assertEquals(200, r.statusCode(), r.body());
    return r;
  }

  /** Waits until {@code m} lists {@code total} guests, {@code ready} of them ready. */
  private void awaitListed(Member m, int total, int ready) throws Exception {
    cluster.eventually(m, m.name() + " lists " + ready + " of " + total + " guests ready",
        () -> cluster.get(m, "/v1/guests"), r -> {
          JsonArray guests = new JsonObject(r.body()).getJsonArray("guests", new JsonArray());
          long n = guests.stream().filter(g -> "ready".equals(((JsonObject) g)
              .getString("state"))).count();
          return r.statusCode() == 200 && guests.size() == total && n == ready;
        });
  }

  private static JsonObject entry(HttpResponse<String> listing, String guest) {
    return new JsonObject(listing.body()).getJsonArray("guests").stream()
        .map(g -> (JsonObject) g).filter(g -> guest.equals(g.getString("name"))).findFirst()
        .orElseThrow(() -> new AssertionError("no " + guest + " in " + listing.body()));
  }
}
