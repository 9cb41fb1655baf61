package io.qgagateway.e2e;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/** Blocking event-bus requests for tests (call from the test thread). */
final class Bus {

  private static final long SEND_TIMEOUT_MS = 30_000;

  private Bus() {
  }

  /** The reply body of a request that must succeed. */
  static JsonObject ok(Vertx vertx, String address, JsonObject body) throws Exception {
    try {
      return request(vertx, address, body);
    } catch (ReplyException e) {
      throw new AssertionError(address + " " + body + " failed: " + e.failureCode() + " "
          + e.getMessage(), e);
    }
  }

  /** The failure of a request that must fail. */
  static ReplyException failure(Vertx vertx, String address, JsonObject body) throws Exception {
    try {
      JsonObject reply = request(vertx, address, body);
      return fail(address + " " + body + " should have failed but replied " + reply);
    } catch (ReplyException e) {
      return e;
    }
  }

  /** A request whose reply is awaited later (see {@link #failure(Future)}). */
  static Future<JsonObject> send(Vertx vertx, String address, JsonObject body) {
    return vertx.eventBus().<JsonObject>request(address, body,
        new DeliveryOptions().setSendTimeout(SEND_TIMEOUT_MS)).map(Message::body);
  }

  /** The failure of a sent request that must fail. */
  static ReplyException failure(Future<JsonObject> reply) throws Exception {
    try {
      return fail("should have failed but replied " + reply.await(SEND_TIMEOUT_MS + 5_000,
          TimeUnit.MILLISECONDS));
    } catch (ReplyException e) {
      return e;
    }
  }

  private static JsonObject request(Vertx vertx, String address, JsonObject body)
      throws Exception {
    try {
      return vertx.eventBus().<JsonObject>request(address, body,
              new DeliveryOptions().setSendTimeout(SEND_TIMEOUT_MS))
          .map(Message::body)
          .toCompletionStage().toCompletableFuture()
          .get(SEND_TIMEOUT_MS + 5_000, TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ReplyException re) {
        throw re;
      }
      throw new AssertionError(address + " failed unexpectedly", e.getCause());
    }
  }


  /** Waits until {@code guest} is ready and the gateway has read its agent's guest-info. */
  static JsonObject awaitReady(Vertx vertx, String guest, long timeoutMs) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    Object last = null;
    while (System.nanoTime() < deadline) {
      try {
        JsonObject entry = request(vertx, "agent.guests", new JsonObject().put("guest", guest))
            .getJsonArray("guests").getJsonObject(0);
        if ("ready".equals(entry.getString("state")) && entry.getJsonObject("agent") != null) {
          return entry;
        }
        last = entry;
      } catch (ReplyException e) {
        last = e.failureCode() + " " + e.getMessage();
      }
      Thread.sleep(50);
    }
    throw new AssertionError("guest " + guest + " not ready within " + timeoutMs + " ms: "
        + last);
  }
}
