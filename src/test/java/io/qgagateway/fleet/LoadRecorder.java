package io.qgagateway.fleet;

import io.qgagateway.fleet.ProcessCluster.Member;
import io.vertx.core.json.JsonObject;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * Steady mixed load on gateway processes: callers that ping guests in turn through a member's
 * HTTP API or TCP bridge, one request at a time each, and record every answer (code, message,
 * when it was sent, how long it took) for the test to judge.
 */
final class LoadRecorder implements AutoCloseable {

  /** Codes of answers that never came: an I/O error, or none within 30 s. */
  static final int IO_ERROR = -2;
  static final int NO_ANSWER = -3;

  /** One answered (or unanswered) request. */
  record Sample(String guest, String entry, String via, long sentAtMillis, long tookMillis,
                int code, String message) {

    boolean sentIn(long fromMillis, long toMillis) {
      return sentAtMillis >= fromMillis && sentAtMillis < toMillis;
    }

    @Override
    public String toString() {
      return via + " " + entry + "->" + guest + " @" + sentAtMillis + " " + code + " in "
          + tookMillis + " ms" + (message == null ? "" : " (" + message + ")");
    }
  }

  private final ProcessCluster cluster;
  private final long timeoutMs;
  private final List<Sample> samples = new CopyOnWriteArrayList<>();
  private final List<Thread> threads = new ArrayList<>();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  // callers' requests under way: caller -> "guest sent-at"
  private final Map<String, long[]> pending = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile boolean running = true;

  LoadRecorder(ProcessCluster cluster, long timeoutMs) {
    this.cluster = cluster;
    this.timeoutMs = timeoutMs;
  }

  /** A caller pinging these guests in turn through {@code entry}'s HTTP API. */
  LoadRecorder http(Member entry, String... guests) {
    return caller("http " + entry.name(), () -> {
      int i = 0;
      while (running) {
        String guest = guests[i++ % guests.length];
        long sent = System.currentTimeMillis();
        long t0 = System.nanoTime();
        int code;
        String message = null;
        try {
          HttpResponse<String> r = cluster.post(entry, "/v1/guests/" + guest
              + "/commands/ping?timeoutMs=" + timeoutMs, "{}");
          code = r.statusCode();
          if (code != 200) {
            message = new JsonObject(r.body()).getJsonObject("error").getString("message");
          }
        } catch (java.io.IOException e) {
          code = e instanceof java.net.http.HttpTimeoutException ? NO_ANSWER : IO_ERROR;
          message = e.toString();
        }
        samples.add(new Sample(guest, entry.name(), "http", sent,
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), code, message));
        pause();
      }
      return null;
    });
  }

  /** A caller pinging these guests in turn through {@code entry}'s TCP bridge. */
  LoadRecorder bridge(Member entry, String... guests) throws Exception {
    ProcessCluster.Bridge bridge = new ProcessCluster.Bridge(entry.bridgePort());
    closeables.add(bridge);
    return caller("bridge " + entry.name(), () -> {
      int i = 0;
      while (running) {
        String guest = guests[i++ % guests.length];
        long sent = System.currentTimeMillis();
        long t0 = System.nanoTime();
        int code;
        String message = null;
        try {
          JsonObject frame = bridge.request("agent.ping", new JsonObject().put("guest", guest)
              .put("timeoutMs", timeoutMs)).get(30, TimeUnit.SECONDS);
          code = "message".equals(frame.getString("type")) ? 200
              : frame.getInteger("failureCode", IO_ERROR);
          message = frame.getString("message");
        } catch (TimeoutException e) {
          code = NO_ANSWER;
        } catch (java.util.concurrent.ExecutionException | java.io.IOException e) {
          code = IO_ERROR;
          message = e.toString();
        }
        samples.add(new Sample(guest, entry.name(), "bridge", sent,
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), code, message));
        pause();
      }
      return null;
    });
  }

  /**
   * A caller pinging these guests in turn over the clustered event bus from {@code client}, a
   * plain Vert.x member of the cluster: Vert.x hands each request to any gateway member's
   * dispatcher. Its send timeout is the request's timeout plus 2 s.
   */
  LoadRecorder bus(io.vertx.core.Vertx client, String... guests) {
    return busCaller("bus", body -> client.eventBus().request("agent.ping", body,
        new io.vertx.core.eventbus.DeliveryOptions().setSendTimeout(timeoutMs + 2_000)), guests);
  }

  /** A caller pinging these guests in turn through the JVM client. */
  LoadRecorder client(io.qgagateway.client.GatewayClient client, String... guests) {
    return busCaller("client", body -> client.request("agent.ping", body), guests);
  }

  private LoadRecorder busCaller(String via,
                                 java.util.function.Function<JsonObject, io.vertx.core.Future<?>>
                                     send, String... guests) {
    return caller(via, () -> {
      int i = 0;
      while (running) {
        String guest = guests[i++ % guests.length];
        long sent = System.currentTimeMillis();
        long t0 = System.nanoTime();
        pending.put(via + " " + guest, new long[] {sent});
        int code;
        String message = null;
        try {
          send.apply(new JsonObject().put("guest", guest).put("timeoutMs", timeoutMs))
              .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
          code = 200;
        } catch (java.util.concurrent.ExecutionException e) {
          if (e.getCause() instanceof io.vertx.core.eventbus.ReplyException re) {
            code = re.failureCode();
            message = re.failureType() + ": " + re.getMessage();
          } else {
            code = IO_ERROR;
            message = String.valueOf(e.getCause());
          }
        } catch (TimeoutException e) {
          code = NO_ANSWER;
        }
        pending.remove(via + " " + guest);
        samples.add(new Sample(guest, "any", via, sent,
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), code, message));
        pause();
      }
      return null;
    });
  }

  private LoadRecorder caller(String name, java.util.concurrent.Callable<Void> body) {
    Thread t = new Thread(() -> {
      try {
        body.call();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }, "load " + name);
    t.setDaemon(true);
    threads.add(t);
    t.start();
    return this;
  }

  private void pause() {
    try {
      Thread.sleep(25);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running = false;
    }
  }

  /** Event-bus (or client) requests still unanswered: guest and how long they waited (ms). */
  Map<String, Long> busWaiting() {
    long now = System.currentTimeMillis();
    Map<String, Long> out = new TreeMap<>();
    pending.forEach((k, v) -> out.put(k, now - v[0]));
    return out;
  }

  List<Sample> samples() {
    return new ArrayList<>(samples);
  }

  /** Samples of these guests sent in [from, to) through HTTP or the bridge. */
  List<Sample> of(Collection<String> guests, long from, long to) {
    return samples.stream().filter(s -> !s.via().equals("bus") && !s.via().equals("client")
        && guests.contains(s.guest())
        && s.sentIn(from, to)).collect(Collectors.toList());
  }

  /** Samples of the event-bus caller ({@code via} bus or client) sent in [from, to). */
  List<Sample> ofBus(String via, Collection<String> guests, long from, long to) {
    return samples.stream().filter(s -> s.via().equals(via) && guests.contains(s.guest())
        && s.sentIn(from, to)).collect(Collectors.toList());
  }

  static long max(List<Sample> samples) {
    return samples.stream().mapToLong(Sample::tookMillis).max().orElse(0);
  }

  static long percentile(List<Sample> samples, double p) {
    long[] sorted = samples.stream().mapToLong(Sample::tookMillis).sorted().toArray();
    return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1,
        (int) Math.ceil(p * sorted.length) - 1)];
  }

  static Map<Integer, Long> codes(List<Sample> samples) {
    return samples.stream().collect(Collectors.groupingBy(Sample::code, TreeMap::new,
        Collectors.counting()));
  }

  static List<Sample> where(List<Sample> samples, Predicate<Sample> p) {
    return samples.stream().filter(p).collect(Collectors.toList());
  }

  @Override
  public void close() throws Exception {
    running = false;
    for (Thread t : threads) {
      t.join(40_000);
    }
    for (AutoCloseable c : closeables) {
      c.close();
    }
  }
}
