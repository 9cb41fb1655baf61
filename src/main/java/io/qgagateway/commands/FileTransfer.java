package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.Failures;
import io.qgagateway.link.AgentChannel;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.util.Arrays;
import java.util.Base64;
import java.util.function.Function;

/**
 * {@code agent.file-get} and {@code agent.file-put}: open, read or write in chunks, close. The
 * handle is closed on every path, errors and timeouts included, with time of its own: the agent
 * keeps open handles until it restarts.
 */
final class FileTransfer {

  /** Per read or write: well inside the agent's 48 MB read cap and the link's reply bound. */
  static final int CHUNK_BYTES = 1024 * 1024;
  private static final long STEP_CAP_MS = 60_000;
  private static final long CLOSE_TIMEOUT_MS = 10_000;

  private final AgentChannel link;
  private final long defaultMaxBytes;

  FileTransfer(AgentChannel link, long defaultMaxBytes) {
    this.link = link;
    this.defaultMaxBytes = defaultMaxBytes;
  }

  Future<JsonObject> get(JsonObject arguments, Deadline deadline) {
    // a request may ask for less than the configured cap, never more
    long maxBytes = Math.min(arguments.getLong("maxBytes", defaultMaxBytes), defaultMaxBytes);
    String path = arguments.getString("path");
    return withHandle(path, "r", deadline, handle -> read(handle, Buffer.buffer(), maxBytes,
        path, deadline))
        .map(content -> new JsonObject().put("return", new JsonObject()
            .put("content-b64", Base64.getEncoder().encodeToString(content.getBytes()))
            .put("size", content.length())));
  }

  Future<JsonObject> put(JsonObject arguments, Deadline deadline) {
    byte[] content;
    try {
      content = Base64.getDecoder().decode(arguments.getString("content-b64"));
    } catch (IllegalArgumentException e) {
      return Failures.fail(Codes.BAD_REQUEST, "arguments.content-b64: not valid base64");
    }
    if (content.length > defaultMaxBytes) {
      return Failures.fail(Codes.BAD_REQUEST, "arguments.content-b64: " + content.length
          + " bytes, more than the " + defaultMaxBytes + " a file-put may write");
    }
    String mode = arguments.getString("mode", "w");
    return withHandle(arguments.getString("path"), mode, deadline,
        handle -> write(handle, content, 0, deadline))
        .map(size -> new JsonObject().put("return", new JsonObject().put("size", size)));
  }

  private <T> Future<T> withHandle(String path, String mode, Deadline deadline,
                                   Function<Long, Future<T>> body) {
    return link.execute("guest-file-open", new JsonObject().put("path", path).put("mode", mode),
            deadline.stepMs(STEP_CAP_MS), true)
        .compose(reply -> {
          Object handle = reply.getValue("return");
          if (!(handle instanceof Number n)) {
            return Failures.fail(Codes.AGENT_ERROR, "ProtocolError: guest-file-open returned "
                + "no handle");
          }
          long h = n.longValue();
          return body.apply(h).transform(outcome -> link.execute("guest-file-close",
                  new JsonObject().put("handle", h), CLOSE_TIMEOUT_MS, true)
              .transform(closed -> {
                // the transfer's own failure is the one worth reporting
                if (outcome.failed()) {
                  return Future.<T>failedFuture(outcome.cause());
                }
                return closed.failed() ? Future.<T>failedFuture(closed.cause())
                    : Future.succeededFuture(outcome.result());
              }));
        });
  }

  private Future<Buffer> read(long handle, Buffer into, long maxBytes, String path,
                              Deadline deadline) {
    if (deadline.passed()) {
      return Future.failedFuture(deadline.expired("reading " + path));
    }
    return link.execute("guest-file-read", new JsonObject().put("handle", handle)
            .put("count", CHUNK_BYTES), deadline.stepMs(STEP_CAP_MS), true)
        .compose(reply -> {
          JsonObject chunk = reply.getJsonObject("return", new JsonObject());
          byte[] bytes;
          try {
            bytes = Base64.getDecoder().decode(chunk.getString("buf-b64", ""));
          } catch (IllegalArgumentException e) {
            return Failures.fail(Codes.AGENT_ERROR, "ProtocolError: guest-file-read returned "
                + "invalid base64");
          }
          if (into.length() + (long) bytes.length > maxBytes) {
            return Failures.fail(Codes.BAD_REQUEST, path + " is larger than maxBytes ("
                + maxBytes + ")");
          }
          into.appendBytes(bytes);
          if (chunk.getBoolean("eof", bytes.length == 0)) {
            return Future.succeededFuture(into);
          }
          return read(handle, into, maxBytes, path, deadline);
        });
  }

  private Future<Long> write(long handle, byte[] content, int offset, Deadline deadline) {
    if (offset >= content.length) {
      return Future.succeededFuture((long) content.length);
    }
    if (deadline.passed()) {
      return Future.failedFuture(deadline.expired("writing"));
    }
    int length = Math.min(Math.min(CHUNK_BYTES, link.maxWriteBytes()), content.length - offset);
    String b64 = Base64.getEncoder().encodeToString(
        Arrays.copyOfRange(content, offset, offset + length));
    return link.execute("guest-file-write", new JsonObject().put("handle", handle)
            .put("buf-b64", b64).put("count", length), deadline.stepMs(STEP_CAP_MS), true)
        .compose(reply -> {
          long written = reply.getJsonObject("return", new JsonObject()).getLong("count", 0L);
          if (written <= 0) {
            return Failures.fail(Codes.AGENT_ERROR, "GenericError: guest-file-write wrote "
                + "nothing at offset " + offset);
          }
          return write(handle, content, offset + (int) written, deadline);
        });
  }
}
