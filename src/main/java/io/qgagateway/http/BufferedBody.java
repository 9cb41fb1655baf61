package io.qgagateway.http;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;

/**
 * Reads a request's whole body into memory, within the per-request cap and the member's body
 * budget. A Content-Length over the cap is refused before a byte is read (and before
 * {@code 100 Continue}); otherwise each arriving piece is charged to the lease, and the first
 * piece that would take the body over the cap (413) or the budget over its limit (503) stops
 * the reading: the request is paused and the piece dropped.
 */
final class BufferedBody {

  /** What is allocated up front, whatever the Content-Length claims: it is not charged yet. */
  private static final int INITIAL_BYTES = 64 * 1024;

  private BufferedBody() {
  }

  static Future<Buffer> read(HttpServerRequest request, long maxBytes, BodyBudget.Lease lease,
                             BodyBudget budget) {
    long declared = Replies.contentLength(request);
    if (declared == -2) {
      return Future.failedFuture(new BodyRefused(400, "Content-Length is not a number", -1));
    }
    if (declared > maxBytes) {
      return Future.failedFuture(BodyRefused.tooLarge("request body", maxBytes,
          "http.maxBodyBytes"));
    }
    if ("100-continue".equalsIgnoreCase(request.getHeader(HttpHeaders.EXPECT))) {
      request.response().writeContinue();
    }
    if (request.isEnded()) {
      // a handler before this one let the body go by: a bug, not the client's fault
      return Future.failedFuture(new IllegalStateException("the request body was already read"));
    }
    Promise<Buffer> done = Promise.promise();
    Buffer[] body = {Buffer.buffer((int) Math.min(INITIAL_BYTES, Math.max(declared, 0)))};
    request.handler(piece -> {
      if (body[0] == null) {
        return;
      }
      if (body[0].length() + (long) piece.length() > maxBytes) {
        stop(request, body);
        done.fail(BodyRefused.tooLarge("request body", maxBytes, "http.maxBodyBytes"));
      } else if (!lease.charge(piece.length())) {
        stop(request, body);
        done.fail(BodyRefused.overBudget(budget));
      } else {
        body[0].appendBuffer(piece);
      }
    });
    request.exceptionHandler(e -> {
      stop(request, body);
      done.tryFail(e);
    });
    request.endHandler(v -> {
      Buffer whole = body[0];
      stop(request, body);
      if (whole != null) {
        done.tryComplete(whole);
      }
    });
    return done.future();
  }

  /**
   * No more reading, and nothing left that keeps the body: the request object lives as long
   * as its connection, which may outlast the answer (keep-alive), and the bytes must go with
   * the answer, when the budget gets them back.
   */
  private static void stop(HttpServerRequest request, Buffer[] body) {
    body[0] = null;
    request.pause();
    request.handler(null);
    request.endHandler(null);
    request.exceptionHandler(null);
  }
}
