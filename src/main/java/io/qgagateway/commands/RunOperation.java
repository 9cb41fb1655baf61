package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.Failures;
import io.qgagateway.link.AgentChannel;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * {@code agent.run}: guest-exec, then guest-exec-status with backoff until the process exits or
 * the request's time is up. The agent forgets a process after the first status that says it
 * exited, so that status is read exactly once and is the result.
 */
final class RunOperation {

  private static final long FIRST_POLL_MS = 5;
  private static final long MAX_POLL_MS = 500;
  private static final long STEP_CAP_MS = 10_000;

  private final Vertx vertx;
  private final AgentChannel link;

  RunOperation(Vertx vertx, AgentChannel link) {
    this.vertx = vertx;
    this.link = link;
  }

  Future<JsonObject> run(JsonObject arguments, Deadline deadline) {
    JsonObject exec = new JsonObject()
        .put("path", arguments.getString("path"))
        .put("capture-output", true);
    copyIfPresent(arguments, exec, "arg");
    copyIfPresent(arguments, exec, "env");
    if (arguments.getValue("input") instanceof String text) {
      exec.put("input-data", Base64.getEncoder().encodeToString(
          text.getBytes(StandardCharsets.UTF_8)));
    } else if (arguments.getValue("input-b64") instanceof String b64) {
      if (!isBase64(b64)) {
        return Failures.fail(Codes.BAD_REQUEST, "arguments.input-b64: not valid base64");
      }
      exec.put("input-data", b64);
    }
    return link.execute("guest-exec", exec, deadline.stepMs(STEP_CAP_MS), true)
        .compose(reply -> {
          Object pid = reply.getJsonObject("return", new JsonObject()).getValue("pid");
          if (!(pid instanceof Number n)) {
            return Failures.fail(Codes.AGENT_ERROR, "ProtocolError: guest-exec returned no pid");
          }
          Promise<JsonObject> done = Promise.promise();
          poll(n.longValue(), deadline, FIRST_POLL_MS, done);
          return done.future();
        });
  }

  private void poll(long pid, Deadline deadline, long delayMs, Promise<JsonObject> done) {
    if (deadline.passed()) {
      done.fail(Failures.of(Codes.TIMEOUT, "process " + pid + " still running after "
          + deadline.timeoutMs() + " ms; poll agent.exec-status for it"));
      return;
    }
    link.execute("guest-exec-status", new JsonObject().put("pid", pid),
            deadline.stepMs(STEP_CAP_MS), true)
        .onFailure(done::fail)
        .onSuccess(reply -> {
          JsonObject status = reply.getJsonObject("return", new JsonObject());
          if (status.getBoolean("exited", false)) {
            done.complete(new JsonObject().put("return", result(status)));
            return;
          }
          long wait = Math.min(delayMs, Math.max(1, deadline.remainingMs()));
          vertx.setTimer(wait, id -> poll(pid, deadline, Math.min(delayMs * 2, MAX_POLL_MS),
              done));
        });
  }

  static JsonObject result(JsonObject status) {
    JsonObject out = new JsonObject()
        .put("exitcode", status.getValue("exitcode"))
        .put("signal", status.getValue("signal"));
    output(status.getString("out-data"), "stdout", out);
    output(status.getString("err-data"), "stderr", out);
    out.put("truncated", status.getBoolean("out-truncated", false)
        || status.getBoolean("err-truncated", false));
    return out;
  }

  private static void output(String b64, String name, JsonObject out) {
    String data = b64 == null ? "" : b64;
    out.put(name + "-b64", data);
    String text = utf8(Base64.getDecoder().decode(data));
    if (text != null) {
      out.put(name, text);
    }
  }

  private static String utf8(byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  static boolean isBase64(String value) {
    try {
      Base64.getDecoder().decode(value);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private static void copyIfPresent(JsonObject from, JsonObject to, String key) {
    if (from.getValue(key) instanceof JsonArray array) {
      to.put(key, array);
    }
  }
}
