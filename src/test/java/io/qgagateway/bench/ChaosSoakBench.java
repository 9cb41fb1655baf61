package io.qgagateway.bench;

import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.sim.AgentPort;
import io.qgagateway.sim.Exchange;
import io.qgagateway.sim.ReplyWriter;
import io.qgagateway.sim.SimulatedAgent;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.qgagateway.link.LinkOptions;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiPredicate;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Benchmark 5: chaos soak. Simulated agents (in this JVM, on a Vert.x of their own) whose replies
 * pass through a fault-injecting {@link ReplyWriter}: with probability {@code bench.faultRate}
 * a command's reply is dropped, sent late (after the request's timeout), preceded by garbage or
 * by a stray 0xFF, cut off by a closed connection, or closed instead of answered, or delayed a
 * little (within the timeout). Concurrent callers send a random mix of commands whose replies
 * each have a recognisable shape (and the guest's own host name), so a reply handed to the wrong
 * request is caught as misdelivered. After the soak the faults stop and the time until every
 * guest answers again is measured.
 * Faults also hit the {@code guest-info} the link sends after every sync; a lost one holds the
 * guest's queue for {@code link.infoTimeoutMs}, which bounds the recovery time.
 * {@code mvn -B -q test -Pbench -Dtest=ChaosSoakBench [-Dbench.seconds=60] [-Dbench.guests=50]
 * [-Dbench.perGuest=2] [-Dbench.faultRate=0.02] [-Dbench.infoTimeoutMs=3000]
 * [-Dbench.probeAfterMs=150]}
 */
@Tag("bench")
class ChaosSoakBench {

  /**
   * DROP is an agent that died holding the request and was restarted (the host socket sees
   * nothing); SPLIT answers as qemu-ga does a request over its parser's limits (a parse error
   * without id, then answers to the leftover bytes, one of them another guest's host name);
   * DUPLICATE sends the reply twice.
   */
  enum Fault { DROP, LATE, SLOW, GARBAGE, STRAY_FF, CLOSE, HALF_THEN_CLOSE, SPLIT, DUPLICATE }

  private static final long TIMEOUT_MS = 500;

  @TempDir
  Path dir;

  /** Which command, and how to know its reply. */
  record Probe(String address, BiPredicate<String, Object> valid) {
  }

  static final List<Probe> PROBES = List.of(
      new Probe("agent.ping", (g, r) -> r instanceof JsonObject o && o.isEmpty()),
      new Probe("agent.get-host-name", (g, r) -> r instanceof JsonObject o
          && g.equals(o.getString("host-name"))),
      new Probe("agent.fsfreeze-status", (g, r) -> "thawed".equals(r)),
      new Probe("agent.get-time", (g, r) -> r instanceof Number),
      new Probe("agent.get-vcpus", (g, r) -> r instanceof JsonArray),
      new Probe("agent.info", (g, r) -> r instanceof JsonObject o
          && SimulatedAgent.VERSION.equals(o.getString("version"))),
      new Probe("agent.get-timezone", (g, r) -> r instanceof JsonObject o
          && o.containsKey("offset")),
      new Probe("agent.get-osinfo", (g, r) -> r instanceof JsonObject o
          && o.containsKey("kernel-release")));

  static final class FaultWriter implements ReplyWriter {
    final AtomicBoolean enabled = new AtomicBoolean(true);
    final double rate;
    final Map<Fault, AtomicLong> injected = new ConcurrentHashMap<>();

    FaultWriter(double rate) {
      this.rate = rate;
      for (Fault f : Fault.values()) {
        injected.put(f, new AtomicLong());
      }
    }

    @Override
    public Future<Void> write(Exchange exchange, AgentPort port) {
      ThreadLocalRandom random = ThreadLocalRandom.current();
      if (!enabled.get() || exchange.kind() != Exchange.Kind.COMMAND || exchange.reply() == null
          || "guest-sync-delimited".equals(exchange.command()) || random.nextDouble() >= rate) {
        return DIRECT.write(exchange, port);
      }
      Fault fault = Fault.values()[random.nextInt(Fault.values().length)];
      injected.get(fault).incrementAndGet();
      Buffer reply = exchange.reply();
      switch (fault) {
        case DROP:
          return Future.succeededFuture();
        case LATE:
          return later(port, TIMEOUT_MS + 100 + random.nextInt(400), reply);
        case SLOW:
          return later(port, 5 + random.nextInt(50), reply);
        case GARBAGE:
          port.write(Buffer.buffer("garbage!"));
          port.write(reply);
          return Future.succeededFuture();
        case STRAY_FF:
          port.write(Buffer.buffer(new byte[] {(byte) 0xFF}));
          port.write(reply);
          return Future.succeededFuture();
        case CLOSE:
          port.closeConnection();
          return Future.succeededFuture();
        case SPLIT:
          port.write(Buffer.buffer("{\"error\":{\"class\":\"GenericError\",\"desc\":"
              + "\"JSON token count limit exceeded\"}}\n{\"return\":{\"host-name\":\"other\"}}\n"
              + "{\"return\":{\"host-name\":\"other\"},\"id\":" + random.nextLong(1L << 62)
              + "}\n"));
          return Future.succeededFuture();
        case DUPLICATE:
          port.write(reply.copy());
          port.write(reply);
          return Future.succeededFuture();
        default:
          port.write(reply.getBuffer(0, reply.length() / 2));
          port.closeConnection();
          return Future.succeededFuture();
      }
    }

    private static Future<Void> later(AgentPort port, long ms, Buffer reply) {
      Promise<Void> done = Promise.promise();
      port.vertx().setTimer(ms, id -> {
        port.write(reply);
        done.complete();
      });
      return done.future();
    }
  }

  @Test
  void chaosSoak() throws Exception {
    int guests = BenchSupport.intProp("bench.guests", 50);
    int perGuest = BenchSupport.intProp("bench.perGuest", 2);
    long millis = BenchSupport.longProp("bench.seconds", 60) * 1000;
    double rate = Double.parseDouble(System.getProperty("bench.faultRate", "0.02"));
    // the link's default: a guest-info reply lost right after a sync holds the queue this long
    long infoTimeoutMs = BenchSupport.longProp("bench.infoTimeoutMs",
        LinkOptions.DEFAULTS.infoTimeoutMs());
    // under the request timeout, so a dropped request is found by the probe behind it
    long probeAfterMs = BenchSupport.longProp("bench.probeAfterMs", 150);
    BenchSupport.Report report = new BenchSupport.Report("chaos-soak");
    report.format("%d simulated guests (in-process, own Vert.x), %d callers each, %d s, fault "
            + "rate %.3f per command reply, request timeout %d ms, link.infoTimeoutMs %d, "
            + "link.probeAfterMs %d, faults %s",
        guests, perGuest, millis / 1000, rate, TIMEOUT_MS, infoTimeoutMs, probeAfterMs,
        List.of(Fault.values()));
    FaultWriter faults = new FaultWriter(rate);
    Vertx agents = BenchSupport.vertx();
    Vertx vertx = BenchSupport.vertx();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try {
      List<Future<SimulatedAgent>> listening = new ArrayList<>();
      List<String> names = new ArrayList<>();
      for (int i = 0; i < guests; i++) {
        String name = "sim-" + i;
        names.add(name);
        listening.add(new SimulatedAgent(agents, name, SimulatedAgent.Options.DEFAULTS
            .withHistoryLimit(0).withWriter(faults))
            .listenUnix(dir.resolve(name + ".sock").toString()));
      }
      Future.all(listening).await(60, TimeUnit.SECONDS);
      // short sync timeout and reconnect so recovery is measured in the link's own terms
      JsonObject config = BenchSupport.config(null)
          .put("discovery", new JsonArray().add(BenchSupport.discovery(dir)))
          .put("link", new JsonObject().put("syncTimeoutMs", 1000).put("reconnectInitialMs", 50)
              .put("reconnectMaxMs", 1000).put("infoTimeoutMs", infoTimeoutMs)
              .put("probeAfterMs", probeAfterMs));
      Gateway gateway = BenchSupport.start(vertx, config, registry);
      faults.enabled.set(false);
      if (BenchSupport.awaitInSync(gateway, guests, 60_000) < 0) {
        throw new AssertionError("not all guests in sync");
      }
      faults.enabled.set(true);

      AtomicLong requests = new AtomicLong();
      AtomicLong ok = new AtomicLong();
      AtomicLong misdelivered = new AtomicLong();
      Map<Integer, Long> failures = new TreeMap<>();
      long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
      CountDownLatch finished = new CountDownLatch(guests * perGuest);
      DeliveryOptions options = new DeliveryOptions().setSendTimeout(TIMEOUT_MS + 10_000);
      for (String guest : names) {
        for (int k = 0; k < perGuest; k++) {
          vertx.getOrCreateContext().runOnContext(v -> new Object() {
            void next() {
              if (System.nanoTime() >= end) {
                finished.countDown();
                return;
              }
              Probe probe = PROBES.get(ThreadLocalRandom.current().nextInt(PROBES.size()));
              requests.incrementAndGet();
              vertx.eventBus().<JsonObject>request(probe.address(), new JsonObject()
                  .put("guest", guest).put("timeoutMs", TIMEOUT_MS), options)
                  .onComplete(ar -> {
                    if (ar.succeeded()) {
                      Object value = ar.result().body().getValue("return");
                      if (probe.valid().test(guest, value)) {
                        ok.incrementAndGet();
                      } else {
                        misdelivered.incrementAndGet();
                        System.err.println("MISDELIVERED " + probe.address() + " " + guest + ": "
                            + ar.result().body());
                      }
                    } else {
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
      if (!finished.await(millis + 60_000, TimeUnit.MILLISECONDS)) {
        throw new AssertionError("callers did not finish");
      }
      faults.enabled.set(false);
      long stopped = System.nanoTime();
      Map<String, Long> seen = new TreeMap<>();
      long recoveredMs = recover(vertx, names, 60_000, seen);
      long failed;
      synchronized (failures) {
        failed = failures.values().stream().mapToLong(Long::longValue).sum();
      }
      report.format("requests %d, replies %d (ok %d, failed %d by code %s), misdelivered %d",
          requests.get(), ok.get() + misdelivered.get() + failed, ok.get(), failed, failures,
          misdelivered.get());
      Map<Fault, Long> injected = new TreeMap<>();
      faults.injected.forEach((f, n) -> injected.put(f, n.get()));
      report.format("faults injected: %d %s", injected.values().stream().mapToLong(Long::longValue)
          .sum(), injected);
      report.line("resyncs by reason: " + counters(registry, "qga.resyncs", "reason"));
      report.line("discarded by kind: " + counters(registry, "qga.discarded", "kind"));
      report.format("recovery after the faults stopped: every guest answered agent.ping within "
          + "%d ms (%d ms after the last caller finished)", recoveredMs,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopped));
      report.line("failed pings while recovering, by code and message: " + seen);
      report.format("misdelivered must be 0: %s", misdelivered.get() == 0 ? "MET" : "VIOLATED");
      report.write();
      gateway.stop().await(30, TimeUnit.SECONDS);
      assertEquals(0, misdelivered.get(), "misdelivered replies");
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
      agents.close().await(30, TimeUnit.SECONDS);
    }
  }

  /** Pings every guest until it answers; returns when the last one did. */
  private static long recover(Vertx vertx, List<String> names, long timeoutMs,
                              Map<String, Long> seen) throws InterruptedException {
    long start = System.nanoTime();
    CountDownLatch all = new CountDownLatch(names.size());
    DeliveryOptions options = new DeliveryOptions().setSendTimeout(5_000);
    for (String guest : names) {
      vertx.runOnContext(v -> new Object() {
        void attempt() {
          vertx.eventBus().<JsonObject>request("agent.ping", new JsonObject().put("guest", guest)
              .put("timeoutMs", 1000), options).map(Message::body).onComplete(ar -> {
                if (ar.succeeded()) {
                  all.countDown();
                } else {
                  String key = ar.cause() instanceof ReplyException re
                      ? re.failureCode() + " " + re.getMessage().replaceAll("[0-9]+", "N")
                      : String.valueOf(ar.cause());
                  synchronized (seen) {
                    seen.merge(key, 1L, Long::sum);
                  }
                  vertx.setTimer(10, id -> attempt());
                }
              });
        }
      }.attempt());
    }
    if (!all.await(timeoutMs, TimeUnit.MILLISECONDS)) {
      return -1;
    }
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
  }

  private static Map<String, Double> counters(PrometheusMeterRegistry registry, String name,
                                              String tag) {
    Map<String, Double> out = new TreeMap<>();
    for (Counter c : registry.find(name).counters()) {
      if (c.count() > 0) {
        out.merge(c.getId().getTag(tag), c.count(), Double::sum);
      }
    }
    return out;
  }
}
