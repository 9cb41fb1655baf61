package io.qgagateway.http;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;

/**
 * Reads a request's whole body into memory, within the per-request cap and the member's body
 * budget. A Content-Length over the cap is refused before a byte is read (and before
 * {@code 100 Continue}); otherwise each arriving piece is charged to the lease, and the first
 * piece that would take the body over the cap (413) or the budget over its limit (503) stops
 * the reading: the request is paused and the piece dropped. A client that stops sending for
 * {@code http.bodyIdleTimeoutMs} is refused too (408), so a stalled body cannot hold its share
 * of the budget for good.
 */
final class BufferedBody {

  /** What is allocated up front, whatever the Content-Length claims: it is not charged yet. */
  private static final int INITIAL_BYTES = 64 * 1024;

  private final Vertx vertx;
  private final HttpServerRequest request;
  private final long maxBytes;
  private final BodyBudget.Lease lease;
  private final BodyBudget budget;
  private final long idleTimeoutMs;
  private final Promise<Buffer> done = Promise.promise();
  private Buffer body;
  private long lastPieceNanos = System.nanoTime();
  private long idleTimer = -1;

  private BufferedBody(Vertx vertx, HttpServerRequest request, long maxBytes,
                       BodyBudget.Lease lease, BodyBudget budget, long idleTimeoutMs) {
    this.vertx = vertx;
    this.request = request;
    this.maxBytes = maxBytes;
    this.lease = lease;
    this.budget = budget;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  static Future<Buffer> read(Vertx vertx, HttpServerRequest request, long maxBytes,
                             BodyBudget.Lease lease, BodyBudget budget, long idleTimeoutMs) {
    long declared = Replies.contentLength(request);
    if (declared == -2) {
      return Future.failedFuture(new BodyRefused(400, "Content-Length is not a number", -1));
    }
    if (declared > maxBytes) {
      return Future.failedFuture(BodyRefused.tooLarge("request body", maxBytes,
          "http.maxBodyBytes"));
    }
    if (request.isEnded()) {
      // HTTP/2 without a body: the stream ended with its headers
      return Future.succeededFuture(Buffer.buffer());
    }
    if ("100-continue".equalsIgnoreCase(request.getHeader(HttpHeaders.EXPECT))) {
      request.response().writeContinue();
    }
    return new BufferedBody(vertx, request, maxBytes, lease, budget, idleTimeoutMs)
        .start((int) Math.min(INITIAL_BYTES, Math.max(declared, 0)));
  }

  private Future<Buffer> start(int initialBytes) {
    body = Buffer.buffer(initialBytes);
    request.handler(this::piece);
    request.exceptionHandler(e -> {
      stop();
      done.tryFail(e);
    });
    request.endHandler(v -> {
      Buffer whole = body;
      stop();
      if (whole != null) {
        done.tryComplete(whole);
      }
    });
    idleTimer = IdleCheck.every(vertx, idleTimeoutMs, () -> {
      if (body != null && IdleCheck.idleFor(lastPieceNanos, idleTimeoutMs)) {
        stop();
        done.tryFail(IdleCheck.refusal(idleTimeoutMs));
      }
    });
    // an HTTP/2 stream delivers nothing, its end included, until asked to
    request.resume();
    return done.future();
  }

  private void piece(Buffer piece) {
    if (body == null) {
      return;
    }
    lastPieceNanos = System.nanoTime();
    if (body.length() + (long) piece.length() > maxBytes) {
      stop();
      done.fail(BodyRefused.tooLarge("request body", maxBytes, "http.maxBodyBytes"));
    } else if (!lease.charge(piece.length())) {
      stop();
      done.fail(BodyRefused.overBudget(budget));
    } else {
      body.appendBuffer(piece);
    }
  }

  /**
   * No more reading, and nothing left that keeps the body: the request object lives as long
   * as its connection, which may outlast the answer (keep-alive), and the bytes must go with
   * the answer, when the budget gets them back.
   */
  private void stop() {
    body = null;
    vertx.cancelTimer(idleTimer);
    Replies.detach(request);
  }
}
