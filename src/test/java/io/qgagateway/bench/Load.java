package io.qgagateway.bench;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Closed-loop load over the event bus: {@code perGuest} callers per guest, each sends
 * {@code address} for its guest and the next request as soon as the reply (or failure) is in,
 * for a fixed time. Callers are spread over a few event-loop contexts of their own.
 */
final class Load {

  record Result(long ok, long failed, Map<Integer, Long> failures, double seconds,
                BenchSupport.Histogram latency) {

    double perSecond() {
      return ok / seconds;
    }

    String summary() {
      return String.format(Locale.ROOT, "%.0f commands/s (%d ok, %d failed %s in %.1f s); latency %s",
          perSecond(), ok, failed, failures, seconds, latency.summary());
    }
  }

  private Load() {
  }

  static Result run(Vertx vertx, String address, List<String> guests, int perGuest,
                    long durationMs, int callerContexts) throws InterruptedException {
    return run(vertx, address, guests, perGuest, durationMs, callerContexts, 0);
  }

  /**
   * With {@code intervalMs > 0} each caller is paced instead: it sends one request every
   * {@code intervalMs} (starting at a random offset), or at once when the previous reply came
   * later than that. Latency is measured from the send.
   */
  static Result run(Vertx vertx, String address, List<String> guests, int perGuest,
                    long durationMs, int callerContexts, long intervalMs)
      throws InterruptedException {
    List<Context> contexts = new ArrayList<>();
    for (int i = 0; i < callerContexts; i++) {
      contexts.add(vertx.getOrCreateContext());
    }
    // one histogram per context: no contention between caller threads
    List<BenchSupport.Histogram> histograms = new ArrayList<>();
    for (int i = 0; i < callerContexts; i++) {
      histograms.add(new BenchSupport.Histogram(1 << 16));
    }
    // counted by the caller threads without contending for one cache line
    LongAdder ok = new LongAdder();
    LongAdder failed = new LongAdder();
    Map<Integer, Long> failures = new TreeMap<>();
    int chains = guests.size() * perGuest;
    CountDownLatch finished = new CountDownLatch(chains);
    DeliveryOptions options = new DeliveryOptions().setSendTimeout(30_000);
    long start = System.nanoTime();
    long end = start + TimeUnit.MILLISECONDS.toNanos(durationMs);
    int c = 0;
    for (String guest : guests) {
      JsonObject body = new JsonObject().put("guest", guest);
      for (int k = 0; k < perGuest; k++) {
        int index = c++ % callerContexts;
        Context context = contexts.get(index);
        BenchSupport.Histogram h = histograms.get(index);
        context.runOnContext(v -> new Object() {
          long due = System.nanoTime() + (intervalMs > 0
              ? TimeUnit.MILLISECONDS.toNanos(java.util.concurrent.ThreadLocalRandom.current()
                  .nextLong(intervalMs)) : 0);

          void next() {
            long wait = due - System.nanoTime();
            if (intervalMs > 0 && wait > 1_000_000) {
              vertx.setTimer(TimeUnit.NANOSECONDS.toMillis(wait), id -> send());
            } else {
              send();
            }
          }

          void send() {
            long t0 = System.nanoTime();
            due = t0 + TimeUnit.MILLISECONDS.toNanos(intervalMs);
            if (t0 >= end) {
              finished.countDown();
              return;
            }
            vertx.eventBus().request(address, body, options).onComplete(ar -> {
              long t1 = System.nanoTime();
              if (ar.succeeded()) {
                ok.increment();
                h.add(t1 - t0);
              } else {
                failed.increment();
                int code = ar.cause() instanceof ReplyException re ? re.failureCode() : -1;
                synchronized (failures) {
                  failures.merge(code, 1L, Long::sum);
                }
              }
              next();
            });
          }
        }.next());
      }
    }
    if (!finished.await(durationMs + 60_000, TimeUnit.MILLISECONDS)) {
      throw new AssertionError("callers did not finish");
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    BenchSupport.Histogram all = new BenchSupport.Histogram((int) Math.min(Integer.MAX_VALUE - 8,
        ok.sum() + 16));
    for (BenchSupport.Histogram h : histograms) {
      h.copyInto(all);
    }
    return new Result(ok.sum(), failed.sum(), failures, seconds, all);
  }
}
