package io.qgagateway.bench;

import io.qgagateway.Gateway;
import io.qgagateway.demo.HostAgent;
import io.qgagateway.link.AgentChannel;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Benchmark 1: the overhead per command. {@code guest-ping} against one real, sandboxed host
 * qemu-ga, sequentially, one caller:
 * <ol>
 *   <li>raw: a blocking Unix-socket client (JDK NIO) that syncs once and then writes the ping and
 *   reads its reply line;</li>
 *   <li>link: {@code GuestLink.execute} called on the link's own event loop (the socket, the
 *   decoder and the link's bookkeeping, no event bus);</li>
 *   <li>gateway: {@code agent.ping} over the event bus from a caller on its own event loop, the
 *   way a client verticle uses it (public address, checks, route, internal address, link);</li>
 *   <li>raw again, to see drift.</li>
 * </ol>
 * qemu-ga serves one client at a time, so the phases take turns on the same agent.
 * {@code mvn -B -q test -Pbench -Dtest=PingOverheadBench [-Dbench.iterations=20000]
 * [-Dbench.warmup=5000]}
 */
@Tag("bench")
class PingOverheadBench {

  private static final byte[] PING = "{\"execute\":\"guest-ping\"}".getBytes(StandardCharsets.US_ASCII);

  @TempDir
  Path dir;

  @Test
  void pingOverhead() throws Exception {
    assumeTrue(HostAgent.find().isPresent(), "qemu-ga is not installed (.ci/setup)");
    int iterations = BenchSupport.intProp("bench.iterations", 20_000);
    int warmup = BenchSupport.intProp("bench.warmup", 5_000);
    BenchSupport.Report report = new BenchSupport.Report("ping-overhead");
    report.format("iterations %d after %d warm-up, one caller, sequential", iterations, warmup);
    try (HostAgent agent = HostAgent.start(dir.resolve("agent"), false, List.of())) {
      BenchSupport.Histogram raw1 = raw(agent.socket(), warmup, iterations);
      report.line("raw (1st): " + raw1.summary());

      Vertx vertx = BenchSupport.vertx();
      BenchSupport.Histogram link;
      BenchSupport.Histogram gw;
      BenchSupport.Histogram echo1;
      BenchSupport.Histogram echo2;
      try {
        Gateway gateway = BenchSupport.start(vertx, BenchSupport.config(new JsonArray()
            .add(new JsonObject().put("name", "host").put("socket", agent.socket().toString()))));
        if (BenchSupport.awaitInSync(gateway, 1, 15_000) < 0) {
          throw new AssertionError("the host agent did not get in sync");
        }
        AgentChannel guestLink = gateway.fleet().local().get("host").link();
        link = sequential(guestLink.context(), warmup, iterations,
            () -> guestLink.execute("guest-ping", null, 5_000, true).mapEmpty());
        report.line("link (GuestLink.execute on its event loop): " + link.summary());

        // the caller runs on an event loop other than the link's, as a client verticle mostly
        // does: a loop shared with the link would save the hand-offs and flatter the figure
        Thread linkThread = threadOf(guestLink.context());
        Context caller = contextAvoiding(vertx, Set.of(linkThread));
        Thread callerThread = threadOf(caller);
        report.format("threads: link on %s, caller on %s; %d command verticles, one per loop",
            linkThread.getName(), callerThread.getName(), eventLoops(vertx));
        JsonObject body = new JsonObject().put("guest", "host");
        DeliveryOptions options = new DeliveryOptions().setSendTimeout(10_000);
        gw = sequential(caller, warmup, iterations,
            () -> vertx.eventBus().request("agent.ping", body, options).mapEmpty());
        report.line("gateway (agent.ping over the event bus): " + gw.summary());

        // the floor the event bus sets here: empty request-reply to a verticle on another event
        // loop (1 hop), and through a forwarding verticle like agent.X -> qga.link.* (2 hops)
        // on loops of their own, so that every hop is a hand-off between threads (with only two
        // loops, the forwarder shares the echo's)
        Context echo = contextAvoiding(vertx, Set.of(callerThread));
        Context forward = eventLoops(vertx) > 2
            ? contextAvoiding(vertx, Set.of(callerThread, threadOf(echo))) : echo;
        register(echo, () -> vertx.eventBus().consumer("bench.echo",
            m -> m.reply(new JsonObject())));
        register(forward, () -> vertx.eventBus().consumer("bench.forward", m -> vertx.eventBus()
            .request("bench.echo", m.body(), options).onSuccess(r -> m.reply(r.body()))));
        echo1 = sequential(caller, warmup, iterations,
            () -> vertx.eventBus().request("bench.echo", body, options).mapEmpty());
        report.line("event bus only, 1 hop (echo verticle): " + echo1.summary());
        echo2 = sequential(caller, warmup, iterations,
            () -> vertx.eventBus().request("bench.forward", body, options).mapEmpty());
        report.line("event bus only, 2 hops (forward + echo verticles): " + echo2.summary());
        // the link again, now that everything is compiled; the better run counts
        BenchSupport.Histogram link2 = sequential(guestLink.context(), warmup, iterations,
            () -> guestLink.execute("guest-ping", null, 5_000, true).mapEmpty());
        report.line("link (again): " + link2.summary());
        if (link2.percentileMicros(50) < link.percentileMicros(50)) {
          link = link2;
        }
        gateway.stop().await(30, TimeUnit.SECONDS);
      } finally {
        vertx.close().await(30, TimeUnit.SECONDS);
      }

      agent.ensureRunning();
      BenchSupport.Histogram raw2 = raw(agent.socket(), warmup, iterations);
      report.line("raw (2nd): " + raw2.summary());

      double rawP50 = Math.min(raw1.percentileMicros(50), raw2.percentileMicros(50));
      double rawP99 = Math.min(raw1.percentileMicros(99), raw2.percentileMicros(99));
      report.format("ratio gateway/raw: p50 %.2fx, p99 %.2fx (raw = the better of its two runs)",
          gw.percentileMicros(50) / rawP50, gw.percentileMicros(99) / rawP99);
      report.format("ratio link/raw (better link run): p50 %.2fx, p99 %.2fx", link.percentileMicros(50) / rawP50,
          link.percentileMicros(99) / rawP99);
      report.format("decomposition of p50: raw %.1f µs, link adds %.1f µs, 2 event-bus hops "
              + "alone cost %.1f µs, gateway total %.1f µs", rawP50,
          link.percentileMicros(50) - rawP50, echo2.percentileMicros(50), gw.percentileMicros(50));
      report.format("target gateway p50 <= 1.5x raw: %s",
          gw.percentileMicros(50) <= 1.5 * rawP50 ? "MET" : "MISSED");
    }
    report.write();
  }

  /** A new event-loop context whose thread is none of {@code avoid}. */
  static Context contextAvoiding(Vertx vertx, Set<Thread> avoid) throws Exception {
    for (int i = 0; i < 64; i++) {
      Context context = ((VertxInternal) vertx).createEventLoopContext();
      if (!avoid.contains(threadOf(context))) {
        return context;
      }
    }
    throw new AssertionError("every event loop is taken by " + avoid);
  }

  static Thread threadOf(Context context) throws Exception {
    CompletableFuture<Thread> thread = new CompletableFuture<>();
    context.runOnContext(v -> thread.complete(Thread.currentThread()));
    return thread.get(10, TimeUnit.SECONDS);
  }

  static int eventLoops(Vertx vertx) {
    int n = 0;
    for (var ignored : ((VertxInternal) vertx).nettyEventLoopGroup()) {
      n++;
    }
    return n;
  }

  private static void register(Context context, Supplier<MessageConsumer<?>> consumer)
      throws Exception {
    CompletableFuture<Void> done = new CompletableFuture<>();
    context.runOnContext(v -> consumer.get().completion().onComplete(ar -> done.complete(null)));
    done.get(10, TimeUnit.SECONDS);
  }

  /** Syncs like the gateway does, then pings sequentially with a blocking socket. */
  static BenchSupport.Histogram raw(Path socket, int warmup, int iterations) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ByteBuffer in = ByteBuffer.allocateDirect(64 * 1024);
      long id = 424242;
      ByteBuffer sync = ByteBuffer.wrap(("\u00ff{\"execute\":\"guest-sync-delimited\","
          + "\"arguments\":{\"id\":" + id + "}}").getBytes(StandardCharsets.ISO_8859_1));
      while (sync.hasRemaining()) {
        ch.write(sync);
      }
      // the stray-0xFF error, then 0xFF {"return": id}\n
      StringBuilder seen = new StringBuilder();
      while (!(seen.indexOf("\u00ff") >= 0 && seen.indexOf("\"return\": " + id) > seen.indexOf("\u00ff")
          && seen.charAt(seen.length() - 1) == '\n')) {
        in.clear();
        if (ch.read(in) < 0) {
          throw new IOException("agent closed during sync: " + seen);
        }
        in.flip();
        while (in.hasRemaining()) {
          seen.append((char) (in.get() & 0xFF));
        }
      }
      ByteBuffer out = ByteBuffer.allocateDirect(PING.length);
      out.put(PING);
      BenchSupport.Histogram h = new BenchSupport.Histogram(iterations);
      for (int i = 0; i < warmup + iterations; i++) {
        long t0 = System.nanoTime();
        out.clear();
        while (out.hasRemaining()) {
          ch.write(out);
        }
        in.clear();
        // {"return": {}}\n: read until the newline that ends it
        while (true) {
          if (ch.read(in) < 0) {
            throw new IOException("agent closed");
          }
          if (in.position() > 0 && in.get(in.position() - 1) == '\n') {
            break;
          }
        }
        long t = System.nanoTime() - t0;
        if (i >= warmup) {
          h.add(t);
        }
      }
      return h;
    }
  }

  /** Runs {@code call} back to back on {@code context}, timing each from send to completion. */
  static BenchSupport.Histogram sequential(Context context, int warmup, int iterations,
                                           Supplier<Future<Void>> call)
      throws Exception {
    BenchSupport.Histogram h = new BenchSupport.Histogram(iterations);
    CompletableFuture<Void> done = new CompletableFuture<>();
    context.runOnContext(v -> new Object() {
      int i;

      void next() {
        if (i == warmup + iterations) {
          done.complete(null);
          return;
        }
        long t0 = System.nanoTime();
        call.get().onComplete(ar -> {
          if (ar.failed()) {
            done.completeExceptionally(ar.cause());
            return;
          }
          if (i++ >= warmup) {
            h.add(System.nanoTime() - t0);
          }
          next();
        });
      }
    }.next());
    done.get(10, TimeUnit.MINUTES);
    return h;
  }
}
