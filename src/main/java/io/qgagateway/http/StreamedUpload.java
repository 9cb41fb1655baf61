package io.qgagateway.http;

import io.qgagateway.api.Addresses;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

import java.util.Base64;
import java.util.function.BiFunction;

/**
 * {@code PUT /v1/guests/{guest}/files?path=P&mode=w|a}: the raw request body written to a
 * guest file without ever holding more than about one chunk of it. Every write is an
 * {@code agent.file-put} on the same dispatch path as any other caller, so policy, audit,
 * the cluster hop and metrics apply to each:
 * <ol>
 *   <li>an opening put of zero bytes with the requested mode ({@code w} creates or truncates)
 *       before a byte of the body is read: an unknown guest, a policy that forbids file-put or
 *       an agent that is not connected is answered at once, and the body never sent (with
 *       {@code Expect: 100-continue}) or never read;</li>
 *   <li>then the body in chunks of {@link #CHUNK_BYTES}, each a put in mode {@code a}; the
 *       request is paused while a chunk is being written (backpressure to the client);</li>
 *   <li>the answer: {@code {"return": {"size": N}}}, N the bytes written.</li>
 * </ol>
 * The chunk being read is charged to the member's body budget and given back once its put is
 * answered. Not atomic: a failure after the opening put leaves the file with what was written
 * so far (the answer says how much); the connection is closed, the rest of the body unread.
 */
final class StreamedUpload {

  /** The size of one write, as {@code agent.file-put} writes to the agent itself. */
  static final int CHUNK_BYTES = 1024 * 1024;

  private static final String FILE_PUT = Addresses.publicAddress("file-put");

  private final RoutingContext ctx;
  private final HttpServerRequest request;
  private final BodyBudget budget;
  private final long maxBytes;
  private final long idleTimeoutMs;
  /** Sends one request to an {@code agent.*} address the way every HTTP command goes. */
  private final BiFunction<String, JsonObject, Future<JsonObject>> dispatch;
  private final String guest;
  private final String path;
  private final Long timeoutMs;

  private Buffer chunk = Buffer.buffer();
  private BodyBudget.Lease chunkLease;
  private long received;
  private long written;
  private boolean putInFlight;
  private boolean ended;
  private boolean over;
  /** When the client last sent, or was let send again after a chunk's put. */
  private long lastPieceNanos;
  private long idleTimer = -1;

  StreamedUpload(RoutingContext ctx, BodyBudget budget, long maxBytes, long idleTimeoutMs,
                 BiFunction<String, JsonObject, Future<JsonObject>> dispatch, String path,
                 Long timeoutMs) {
    this.ctx = ctx;
    this.request = ctx.request();
    this.budget = budget;
    this.maxBytes = maxBytes;
    this.idleTimeoutMs = idleTimeoutMs;
    this.dispatch = dispatch;
    this.guest = ctx.pathParam("guest");
    this.path = path;
    this.timeoutMs = timeoutMs;
    this.chunkLease = budget.lease();
  }

  void start(String mode) {
    long declared = Replies.contentLength(request);
    if (declared == -2) {
      refuse(new BodyRefused(400, "Content-Length is not a number", -1));
      return;
    }
    if (declared > maxBytes) {
      refuse(BodyRefused.tooLarge("upload", maxBytes, "http.maxUploadBytes"));
      return;
    }
    // nothing is read until the opening put says the guest, the policy and the link allow it
    boolean endedAlready = request.isEnded();
    if (!endedAlready) {
      request.pause();
    }
    // the exchange's hold on the chunk being read: a client gone mid-chunk gives it back
    ctx.addEndHandler(ar -> {
      over = true;
      ctx.vertx().cancelTimer(idleTimer);
      chunkLease.release();
    });
    put(Buffer.buffer(), mode).onComplete(opened -> {
      if (over) {
        return;
      }
      if (opened.failed()) {
        fail(opened.cause());
        return;
      }
      if (endedAlready) {
        // an HTTP/2 request without a body has ended before any handler could be set
        ended = true;
        flush();
        return;
      }
      if ("100-continue".equalsIgnoreCase(request.getHeader(HttpHeaders.EXPECT))) {
        request.response().writeContinue();
      }
      request.handler(this::piece);
      request.exceptionHandler(e -> over = true);
      request.endHandler(v -> {
        ended = true;
        if (!putInFlight) {
          flush();
        }
      });
      lastPieceNanos = System.nanoTime();
      // only while the gateway waits for the client: a slow guest is the put's timeout's job
      idleTimer = IdleCheck.every(ctx.vertx(), idleTimeoutMs, () -> {
        boolean waitingForClient = !over && !putInFlight && !ended;
        if (waitingForClient && IdleCheck.idleFor(lastPieceNanos, idleTimeoutMs)) {
          refuse(IdleCheck.refusal(idleTimeoutMs).with(progress()));
        }
      });
      request.resume();
    });
  }

  private void piece(Buffer data) {
    if (over) {
      return;
    }
    lastPieceNanos = System.nanoTime();
    received += data.length();
    if (received > maxBytes) {
      refuse(BodyRefused.tooLarge("upload", maxBytes, "http.maxUploadBytes").with(progress()));
      return;
    }
    if (!chunkLease.charge(data.length())) {
      refuse(BodyRefused.overBudget(budget).with(progress()));
      return;
    }
    chunk.appendBuffer(data);
    if (chunk.length() >= CHUNK_BYTES) {
      request.pause();
      writeChunk();
    }
  }

  /** At the end of the body: the last, partial chunk, or the answer. */
  private void flush() {
    if (chunk.length() > 0) {
      writeChunk();
    } else {
      over = true;
      Replies.json(ctx, 200, new JsonObject().put("return", new JsonObject().put("size", written)));
    }
  }

  private void writeChunk() {
    Buffer data = chunk;
    // the put holds the chunk's bytes from here on; the exchange holds the next chunk's
    BodyBudget.Lease lease = chunkLease;
    chunk = Buffer.buffer();
    chunkLease = budget.lease();
    putInFlight = true;
    put(data, "a").onComplete(ar -> {
      lease.release();
      putInFlight = false;
      if (over) {
        return;
      }
      if (ar.failed()) {
        fail(ar.cause());
        return;
      }
      written += data.length();
      if (ended) {
        flush();
      } else {
        lastPieceNanos = System.nanoTime();
        request.resume();
      }
    });
  }

  private Future<JsonObject> put(Buffer data, String mode) {
    JsonObject body = new JsonObject().put("guest", guest).put("arguments", new JsonObject()
        .put("path", path)
        .put("content-b64", Base64.getEncoder().encodeToString(data.getBytes()))
        .put("mode", mode));
    if (timeoutMs != null) {
      body.put("timeoutMs", timeoutMs);
    }
    return dispatch.apply(FILE_PUT, body);
  }

  private String progress() {
    return "; " + written + " bytes were written to " + path + " before";
  }

  private void refuse(BodyRefused refused) {
    over = true;
    Replies.detach(request);
    Replies.refused(ctx, refused);
  }

  private void fail(Throwable cause) {
    over = true;
    Replies.detach(request);
    Replies.failure(ctx, cause, written == 0 && received == 0 ? ""
        : " (" + written + " bytes were written to " + path + " before; the file is incomplete)");
  }
}
