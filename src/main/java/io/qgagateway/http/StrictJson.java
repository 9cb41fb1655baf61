package io.qgagateway.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;

import java.io.IOException;
import java.util.Locale;

/**
 * What the HTTP API accepts of a request, strictly. Vert.x's JSON codec reads comments and other
 * leniencies; a body is first read by a plain Jackson parser (RFC 8259 JSON only, the same
 * length limits), so {@code {"path": "/x" /* comment *\/}} is a 400.
 */
final class StrictJson {

  private static final JsonFactory STRICT = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.defaults())
      .build();

  private StrictJson() {
  }

  /** @throws DecodeException naming what is not strict JSON */
  static void check(Buffer body) {
    try (JsonParser parser = STRICT.createParser(body.getBytes())) {
      while (parser.nextToken() != null) {
        parser.skipChildren();
      }
    } catch (IOException e) {
      throw new DecodeException("not strict JSON: " + e.getMessage(), e);
    }
  }

  /** Whether a raw request path has a {@code .} or {@code ..} segment, percent-encoded or not. */
  static boolean hasDotSegment(String path) {
    if (path == null) {
      return false;
    }
    for (String segment : path.split("/", -1)) {
      String s = segment.toLowerCase(Locale.ROOT).replace("%2e", ".");
      if (s.equals(".") || s.equals("..")) {
        return true;
      }
    }
    return false;
  }
}
