package io.qgagateway.testing;

import io.qgagateway.link.DiscardKind;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.GuestLink;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkObserver;
import io.qgagateway.link.LinkOptions;
import io.qgagateway.link.LinkState;
import io.qgagateway.link.ResyncReason;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A {@link GuestLink} driven from a test thread: every call hops onto the link's context, and
 * what the link reports to its observer is recorded for assertions.
 */
public final class LinkHarness implements LinkObserver {

  /** Short timings so faults resolve quickly in tests. */
  public static final LinkOptions FAST = new LinkOptions(64 * 1024, 8, 300, 2, 50, 400, 150, 2000, 0);

  public final GuestLink link;
  public final List<ResyncReason> resyncs = new CopyOnWriteArrayList<>();
  public final Map<DiscardKind, AtomicInteger> discards = new ConcurrentHashMap<>();
  public final AtomicInteger connects = new AtomicInteger();
  public final AtomicInteger infoUpdates = new AtomicInteger();

  public LinkHarness(Vertx vertx, GuestTarget target, LinkOptions options) {
    this.link = new GuestLink(vertx, target, options, this);
  }

  public LinkHarness start() {
    link.context().runOnContext(v -> link.start());
    return this;
  }

  public void stop() {
    await(onContext(link::stop), Duration.ofSeconds(5));
  }

  /** Started and in sync, with the guest-info refresh done (so the next request is the test's). */
  public LinkHarness startReady() {
    start();
    awaitReady(1);
    return this;
  }

  public void awaitReady(int infoUpdatesAtLeast) {
    waitUntil(() -> link.state() == LinkState.READY && infoUpdates.get() >= infoUpdatesAtLeast,
        Duration.ofSeconds(10), "link ready");
  }

  public Future<JsonObject> execute(String command, JsonObject args, long timeoutMs) {
    return execute(command, args, timeoutMs, true);
  }

  public Future<JsonObject> execute(String command, JsonObject args, long timeoutMs,
                                    boolean successResponse) {
    return onContext(() -> link.execute(command, args, timeoutMs, successResponse));
  }

  public Future<JsonObject> resync(long timeoutMs) {
    return onContext(() -> link.resync(io.qgagateway.api.Deadline.in(timeoutMs)));
  }

  /** {@code guest-sync} with {@code id}: a request whose correct reply only it can have. */
  public Future<JsonObject> sync(long id, long timeoutMs) {
    return execute("guest-sync", new JsonObject().put("id", id), timeoutMs);
  }

  /** Sends a guest-sync and checks it got back its own id. */
  public void assertSyncs(long id) {
    JsonObject reply = await(sync(id, 3000), Duration.ofSeconds(5));
    assertEquals(id, ((Number) reply.getValue("return")).longValue(), "reply to guest-sync " + id);
  }

  public int discarded(DiscardKind kind) {
    AtomicInteger n = discards.get(kind);
    return n == null ? 0 : n.get();
  }

  private <T> Future<T> onContext(java.util.function.Supplier<Future<T>> action) {
    Promise<T> p = Promise.promise();
    link.context().runOnContext(v -> action.get().onComplete(p));
    return p.future();
  }

  // ---- observer ----------------------------------------------------------------------------------

  @Override
  public void connected(AgentChannel l) {
    connects.incrementAndGet();
  }

  @Override
  public void resynced(AgentChannel l, ResyncReason reason, long nanos) {
    resyncs.add(reason);
  }

  @Override
  public void discarded(AgentChannel l, DiscardKind kind) {
    discards.computeIfAbsent(kind, k -> new AtomicInteger()).incrementAndGet();
  }

  @Override
  public void infoUpdated(AgentChannel l) {
    infoUpdates.incrementAndGet();
  }

  // ---- static helpers ----------------------------------------------------------------------------

  public static <T> T await(Future<T> future, Duration max) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(max.toMillis(),
          TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new AssertionError("failed: " + e.getCause(), e.getCause());
    } catch (Exception e) {
      throw new AssertionError("no completion within " + max, e);
    }
  }

  /** Waits for a failure and returns it as the contract's ReplyException. */
  public static ReplyException awaitFailure(Future<?> future, Duration max) {
    try {
      Object value = future.toCompletionStage().toCompletableFuture().get(max.toMillis(),
          TimeUnit.MILLISECONDS);
      throw new AssertionError("expected a failure, got " + value);
    } catch (java.util.concurrent.ExecutionException e) {
      assertTrue(e.getCause() instanceof ReplyException, "not a ReplyException: " + e.getCause());
      return (ReplyException) e.getCause();
    } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
      throw new AssertionError("no completion within " + max, e);
    }
  }

  public static void assertFails(Future<?> future, int code, String messagePart) {
    ReplyException e = awaitFailure(future, Duration.ofSeconds(10));
    assertEquals(code, e.failureCode(), "code of: " + e.getMessage());
    if (messagePart != null) {
      assertTrue(e.getMessage().contains(messagePart), "message '" + e.getMessage()
          + "' should contain '" + messagePart + "'");
    }
  }

  /** Polls until the condition holds; fails the test after {@code max}. */
  public static void waitUntil(BooleanSupplier condition, Duration max, String what) {
    GatewayHarness.waitFor(what, condition, max);
  }

}
