package io.qgagateway.protocol;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.Map;

/**
 * What qemu-ga's JSON parser takes as one request, with room to spare. Past one of its limits
 * (2M tokens, nesting 1024, 64 MiB of tokens per object) the agent resets its parser in the
 * middle of the request, answers an error, and then reads the rest of the bytes as new requests
 * and answers those too: a reply for the wrong caller, and a way around policy (a command hidden
 * in the tail of an allowed one). So nothing over half of any limit is ever written.
 */
public final class RequestLimits {

  /** Half of qemu-ga's MAX_TOKEN_COUNT (2 << 20). */
  public static final int MAX_TOKENS = 1 << 20;
  /** Half of qemu-ga's MAX_NESTING (1 << 10). */
  public static final int MAX_DEPTH = 512;
  /** Half of qemu-ga's MAX_TOKEN_SIZE (64 MiB), which counts every token of one object. */
  public static final int MAX_BYTES = 32 * 1024 * 1024;
  /** The envelope around the arguments: {@code {"execute":x,"arguments":A,"id":N}}. */
  private static final int ENVELOPE_TOKENS = 12;

  private RequestLimits() {
  }

  /**
   * Null when the encoded request is small enough; otherwise what is over, naming the limit.
   */
  public static String sizeProblem(int encodedBytes) {
    return encodedBytes <= MAX_BYTES ? null : "request of " + encodedBytes
        + " bytes is over the " + MAX_BYTES + "-byte limit (the agent's parser takes 64 MiB per"
        + " request)";
  }

  /**
   * Null when the agent's parser reads {@code arguments} (null for none) as part of one object;
   * otherwise what is over, naming the limit. Stops counting at the first limit crossed, so it
   * is cheap before anything is encoded.
   */
  public static String structureProblem(JsonObject arguments) {
    if (arguments == null || arguments.isEmpty()) {
      return null;
    }
    Walk walk = new Walk();
    walk.value(arguments, 2);
    if (walk.depth > MAX_DEPTH) {
      return "arguments nest deeper than " + MAX_DEPTH
          + " levels (the agent's parser takes 1024)";
    }
    if (walk.tokens + ENVELOPE_TOKENS > MAX_TOKENS) {
      return "request of more than " + MAX_TOKENS
          + " JSON tokens (the agent's parser takes 2097152)";
    }
    return null;
  }

  /** Counts tokens as qemu's lexer does: punctuation, strings, numbers, keywords. */
  private static final class Walk {
    long tokens;
    int depth;

    void value(Object v, int level) {
      if (tokens > MAX_TOKENS || depth > MAX_DEPTH) {
        return;
      }
      if (v instanceof JsonObject o) {
        entries(o.getMap(), level);
      } else if (v instanceof Map<?, ?> m) {
        entries(m, level);
      } else if (v instanceof JsonArray a) {
        elements(a.getList(), level);
      } else if (v instanceof Iterable<?> list) {
        elements(list, level);
      } else {
        tokens++;
      }
    }

    private void entries(Map<?, ?> map, int level) {
      depth = Math.max(depth, level);
      // braces, and per entry its key, colon, value and comma
      tokens += 2 + Math.max(0, map.size() * 3L - 1);
      for (Object v : map.values()) {
        value(v, level + 1);
      }
    }

    private void elements(Iterable<?> list, int level) {
      depth = Math.max(depth, level);
      tokens += 2;
      long n = 0;
      for (Object v : list) {
        n++;
        value(v, level + 1);
      }
      tokens += Math.max(0, n - 1);
    }
  }
}
