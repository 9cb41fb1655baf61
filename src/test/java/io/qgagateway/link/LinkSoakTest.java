package io.qgagateway.link;

import io.qgagateway.testing.FaultyAgent;
import io.qgagateway.testing.FaultyAgent.Fault;
import io.qgagateway.testing.LinkHarness;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

import static io.qgagateway.testing.LinkHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Thousands of requests from concurrent callers over links whose agents misbehave at random.
 * Each request is a {@code guest-sync} with its own id (or now and then a {@code guest-shutdown}),
 * so a reply handed to the wrong request shows; every request must complete exactly once, in
 * time, with its own reply or a contract failure. The seed is printed; rerun one with
 * {@code -Dsoak.seed=N}.
 */
@ExtendWith(VertxExtension.class)
class LinkSoakTest {

  private static final int GUESTS = 4;
  private static final int CALLERS_PER_GUEST = 3;
  private static final int REQUESTS_PER_CALLER = 850;
  private static final long TIMEOUT_MS = 200;
  /** The contract: every request gets its reply within its timeout plus a small margin. */
  private static final long MARGIN_MS = 1000;
  // probes after 50 ms: a request the agent dropped (HANG) fails before its deadline
  private static final LinkOptions OPTIONS =
      new LinkOptions(64 * 1024, 16, 150, 2, 20, 200, 100, 2000, 50);
  /** Chance of a fault per request; {@code -Dsoak.faultRate=0} measures the clean path. */
  private static final double FAULT_RATE = Double.parseDouble(System.getProperty("soak.faultRate", "0.02"));
  /** Percent of requests that are guest-shutdown (no success response). */
  private static final int SHUTDOWN_PERCENT = Integer.getInteger("soak.shutdownPercent", 1);
  private static final Fault[] FAULTS = {Fault.BYTE_AT_A_TIME, Fault.GARBAGE_BEFORE,
      Fault.GARBAGE_INSIDE, Fault.HANG, Fault.LATE, Fault.OVERSIZED, Fault.CLOSE_MID_REPLY,
      Fault.STALE_BEFORE_SYNC, Fault.SILENT, Fault.SPLIT_REQUEST, Fault.DUPLICATE_REPLY};

  @TempDir
  Path dir;

  private final int total = GUESTS * CALLERS_PER_GUEST * REQUESTS_PER_CALLER;
  private final AtomicIntegerArray completions = new AtomicIntegerArray(total);
  private final AtomicInteger ok = new AtomicInteger();
  private final AtomicInteger sent = new AtomicInteger();
  private final AtomicInteger misdelivered = new AtomicInteger();
  private final AtomicInteger late = new AtomicInteger();
  private final AtomicLong maxLatencyMs = new AtomicLong();
  private final Map<Integer, AtomicInteger> failures = new ConcurrentHashMap<>();

  @Test
  void everyRequestGetsItsOwnReplyExactlyOnce(Vertx vertx) {
    long seed = Long.getLong("soak.seed", System.nanoTime());
    List<FaultyAgent> agents = new ArrayList<>();
    List<LinkHarness> links = new ArrayList<>();
    for (int g = 0; g < GUESTS; g++) {
      String socket = dir.resolve("soak-" + g + ".sock").toString();
      FaultyAgent agent = await(new FaultyAgent(vertx, "soak-" + g).listenUnix(socket),
          Duration.ofSeconds(5));
      agent.lateDelayMs(TIMEOUT_MS + 100).oversizedBytes(OPTIONS.maxReplyBytes() * 2)
          .randomly(new Random(seed + g), FAULT_RATE, FAULTS);
      agents.add(agent);
      links.add(new LinkHarness(vertx, GuestTarget.unix("soak-" + g, socket), OPTIONS).start());
    }
    // measured from ready links: a cold JVM's first connect would only add noise
    links.forEach(h -> h.awaitReady(1));
    long start = System.nanoTime();
    List<Future<Void>> callers = new ArrayList<>();
    AtomicInteger nextIndex = new AtomicInteger();
    for (LinkHarness link : links) {
      for (int c = 0; c < CALLERS_PER_GUEST; c++) {
        Random rng = new Random(seed ^ (31L * callers.size() + 7));
        Promise<Void> done = Promise.promise();
        link.link.context().runOnContext(v -> call(link, rng, nextIndex, REQUESTS_PER_CALLER, done));
        callers.add(done.future());
      }
    }
    await(Future.all(callers), Duration.ofSeconds(120));
    long wallMs = (System.nanoTime() - start) / 1_000_000;

    Map<Fault, Integer> injected = new EnumMap<>(Fault.class);
    agents.forEach(a -> a.injected().forEach((f, n) -> injected.merge(f, n, Integer::sum)));
    injected.remove(Fault.NONE);
    Map<String, Integer> discards = new TreeMap<>();
    Map<ResyncReason, Integer> resyncs = new EnumMap<>(ResyncReason.class);
    for (LinkHarness h : links) {
      h.discards.forEach((k, n) -> discards.merge(k.label(), n.get(), Integer::sum));
      h.resyncs.forEach(r -> resyncs.merge(r, 1, Integer::sum));
      h.stop();
    }
    agents.forEach(a -> await(a.close(), Duration.ofSeconds(5)));
    Map<Integer, Integer> failed = new TreeMap<>();
    failures.forEach((code, n) -> failed.put(code, n.get()));
    System.out.printf("soak seed=%d requests=%d ok=%d failed=%s misdelivered=%d late=%d "
            + "maxLatencyMs=%d wallMs=%d faults=%s discards=%s resyncs=%s%n", seed, sent.get(),
        ok.get(), failed, misdelivered.get(), late.get(), maxLatencyMs.get(), wallMs, injected,
        discards, resyncs);

    assertEquals(total, sent.get());
    for (int i = 0; i < total; i++) {
      assertEquals(1, completions.get(i), "completions of request " + i + " (seed " + seed + ")");
    }
    assertEquals(0, misdelivered.get(), "replies handed to the wrong request (seed " + seed + ")");
    assertEquals(0, late.get(), "requests answered after timeout + margin (seed " + seed + ")");
    assertTrue(Set.of(502, 503, 504).containsAll(failed.keySet()), "unexpected codes " + failed);
    if (FAULT_RATE > 0) {
      assertTrue(injected.values().stream().mapToInt(Integer::intValue).sum() > 50,
          "the soak injected faults: " + injected);
    }
    assertTrue(ok.get() > total * 0.8, "most requests succeed: " + ok.get());
  }

  /** One caller: one request at a time, the next when the previous completed. */
  private void call(LinkHarness h, Random rng, AtomicInteger nextIndex, int left, Promise<Void> done) {
    if (left == 0) {
      done.complete();
      return;
    }
    int index = nextIndex.getAndIncrement();
    sent.incrementAndGet();
    boolean shutdown = rng.nextInt(100) < SHUTDOWN_PERCENT;
    long startNanos = System.nanoTime();
    Future<JsonObject> reply = shutdown
        ? h.link.execute("guest-shutdown", null, TIMEOUT_MS, false)
        : h.link.execute("guest-sync", new JsonObject().put("id", 1_000_000L + index), TIMEOUT_MS, true);
    reply.onComplete(ar -> {
      completions.incrementAndGet(index);
      long ms = (System.nanoTime() - startNanos) / 1_000_000;
      maxLatencyMs.accumulateAndGet(ms, Math::max);
      if (ms > TIMEOUT_MS + MARGIN_MS) {
        late.incrementAndGet();
      }
      if (ar.succeeded()) {
        JsonObject expected = shutdown ? new JsonObject().put("sent", true)
            : new JsonObject().put("return", 1_000_000L + index);
        if (sameReply(expected, ar.result())) {
          ok.incrementAndGet();
        } else {
          misdelivered.incrementAndGet();
        }
      } else {
        int code = ar.cause() instanceof ReplyException re ? re.failureCode() : -1;
        failures.computeIfAbsent(code, k -> new AtomicInteger()).incrementAndGet();
      }
      call(h, rng, nextIndex, left - 1, done);
    });
  }

  private static boolean sameReply(JsonObject expected, JsonObject actual) {
    Object e = expected.getValue("return");
    Object a = actual.getValue("return");
    if (e instanceof Number en) {
      return a instanceof Number an && en.longValue() == an.longValue() && actual.size() == 1;
    }
    return expected.equals(actual);
  }
}
