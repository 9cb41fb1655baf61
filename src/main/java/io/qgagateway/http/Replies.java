package io.qgagateway.http;

import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * The HTTP answers of API.md section 4: a JSON object, or {@code {"error": {"code", "class",
 * "message"}}}. An answer given while the request's body is still unread closes the connection
 * once written, so the rest of that body is never read.
 */
final class Replies {

  private Replies() {
  }

  static void json(RoutingContext ctx, int status, JsonObject body) {
    HttpServerResponse response = ctx.response();
    if (response.ended() || response.closed()) {
      return;
    }
    boolean close = bodyPending(ctx.request());
    if (close) {
      response.putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
    }
    response.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .end(body.encode())
        .onComplete(written -> {
          if (close) {
            ctx.request().connection().close();
          }
        });
  }

  static void error(RoutingContext ctx, int code, String agentClass, String message) {
    JsonObject error = new JsonObject().put("code", code);
    if (agentClass != null) {
      error.put("class", agentClass);
    }
    error.put("message", message);
    json(ctx, code, new JsonObject().put("error", error));
  }

  /** A failure of the command layer (a {@link ReplyException}, or anything else as a 500). */
  static void failure(RoutingContext ctx, Throwable cause, String suffix) {
    ReplyException failure = Failures.normalize(cause);
    String message = failure.getMessage() == null ? "" : failure.getMessage();
    String agentClass = failure instanceof GatewayFailure g ? g.agentClass() : null;
    if (failure instanceof GatewayFailure g && g.retryAfterSeconds() >= 0) {
      ctx.response().putHeader(HttpHeaders.RETRY_AFTER, Long.toString(g.retryAfterSeconds()));
    }
    error(ctx, failure.failureCode(), agentClass, message + suffix);
  }

  /** A refused body ({@link BodyRefused}); a client that went away gets nothing. */
  static void refused(RoutingContext ctx, Throwable cause) {
    if (cause instanceof BodyRefused refused) {
      if (refused.retryAfterSeconds >= 0) {
        ctx.response().putHeader(HttpHeaders.RETRY_AFTER,
            Integer.toString(refused.retryAfterSeconds));
      }
      error(ctx, refused.status, null, refused.getMessage());
    } else if (!ctx.response().closed()) {
      // e.g. a malformed chunked encoding
      error(ctx, 400, null, "the request body could not be read: " + cause.getMessage());
    }
  }

  /**
   * Stops reading the request and drops its handlers (and what they hold). An HTTP/2 stream
   * that has ended takes no more calls: it goes away with its response anyway.
   */
  static void detach(HttpServerRequest request) {
    try {
      request.pause();
      request.handler(null);
      request.endHandler(null);
      request.exceptionHandler(null);
    } catch (IllegalStateException ended) {
      // "Request has already been read"
    }
  }

  /**
   * Whether the request announced a body that has not been read to its end: an answer now
   * leaves the rest of it on the connection.
   */
  static boolean bodyPending(HttpServerRequest request) {
    if (request.isEnded()) {
      return false;
    }
    String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
    return request.headers().contains(HttpHeaders.TRANSFER_ENCODING)
        || (length != null && !length.equals("0"));
  }

  /** The declared Content-Length, -1 when there is none, -2 when it is not a number. */
  static long contentLength(HttpServerRequest request) {
    String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
    if (length == null) {
      return -1;
    }
    try {
      long n = Long.parseLong(length.trim());
      return n < 0 ? -2 : n;
    } catch (NumberFormatException e) {
      return -2;
    }
  }
}
