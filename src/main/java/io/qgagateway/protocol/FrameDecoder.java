package io.qgagateway.protocol;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns the agent's byte stream into JSON objects, 0xFF delimiters and errors.
 *
 * <p>The agent frames nothing: replies are bare JSON objects (a newline after each is a courtesy,
 * not a contract) and {@code guest-sync-delimited} prefixes its reply with 0xFF, a byte that valid
 * UTF-8 never contains. So the decoder splits on 0xFF first, then finds object boundaries by
 * tracking brace depth outside strings, and only then parses the complete object. That keeps the
 * size bound exact and means a garbled object can never swallow a later 0xFF.
 *
 * <p>After an error a client's decoder ({@link Recovery#AT_DELIMITER}) discards everything up to
 * the next 0xFF: the caller is expected to resync, and a sync reply always starts with 0xFF. The
 * agent's side ({@link Recovery#AT_NEXT_OBJECT}) carries on like qemu-ga's lexer does. Not
 * thread-safe; one decoder per connection.
 */
public final class FrameDecoder {

  /** Receives what the decoder finds, in stream order. */
  public interface Listener {
    void onObject(JsonObject object, int size);

    void onDelimiter();

    void onError(FrameError error, String detail);
  }

  /** Where decoding resumes after bytes that are not a usable object. */
  public enum Recovery {
    /** Drop everything up to the next 0xFF: a client resyncs, and every sync reply starts there. */
    AT_DELIMITER,
    /**
     * Drop only the bad bytes, as the agent's own lexer does: a run of garbage or a malformed
     * object costs one error, and the next object is read; a 0xFF drops a partial object with no
     * error of its own. Oversized objects still drop to 0xFF.
     */
    AT_NEXT_OBJECT
  }

  private static final int DELIMITER = 0xFF;

  private final int maxFrameBytes;
  private final Recovery recovery;
  private final Listener listener;

  private Buffer frame = Buffer.buffer(256);
  private int depth;
  private boolean inString;
  private boolean escaped;
  private boolean discarding;
  private boolean garbageRun;
  // no byte >= 0x80 in the current object: it decodes as is, without the UTF-8 checks
  private boolean ascii;
  private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
      .onMalformedInput(CodingErrorAction.REPORT)
      .onUnmappableCharacter(CodingErrorAction.REPORT);

  public FrameDecoder(int maxFrameBytes, Listener listener) {
    this(maxFrameBytes, Recovery.AT_DELIMITER, listener);
  }

  public FrameDecoder(int maxFrameBytes, Recovery recovery, Listener listener) {
    if (maxFrameBytes < 2) {
      throw new IllegalArgumentException("maxFrameBytes must be at least 2");
    }
    this.maxFrameBytes = maxFrameBytes;
    this.recovery = recovery;
    this.listener = listener;
  }

  /** Forgets any partial object, e.g. when the connection is replaced. */
  public void reset() {
    clearFrame();
    discarding = false;
    garbageRun = false;
  }

  /** True while bytes are dropped until the next 0xFF after an error. */
  public boolean discarding() {
    return discarding;
  }

  public void feed(Buffer chunk) {
    byte[] bytes = chunk.getBytes();
    int start = 0; // first byte of the current run that belongs to an open object
    for (int i = 0; i < bytes.length; i++) {
      int b = bytes[i] & 0xFF;
      if (b == DELIMITER) {
        // the agent answers such a 0xFF with its one stray error: no second error for the cut object
        if (depth > 0 && !discarding && recovery == Recovery.AT_DELIMITER) {
          fail(FrameError.GARBAGE, "0xFF inside a JSON object");
        }
        clearFrame();
        discarding = false;
        garbageRun = false;
        start = i + 1;
        listener.onDelimiter();
        continue;
      }
      if (discarding) {
        start = i + 1;
        continue;
      }
      if (depth == 0) {
        if (b == '{') {
          depth = 1;
          inString = false;
          escaped = false;
          garbageRun = false;
          ascii = true;
          start = i;
        } else if (b == ' ' || b == '\n' || b == '\r' || b == '\t') {
          garbageRun = false;
          start = i + 1;
        } else {
          if (!garbageRun) {
            // one error per run of stray bytes, as the agent's lexer reports one bad token
            garbageRun = true;
            fail(FrameError.GARBAGE, "unexpected byte 0x" + Integer.toHexString(b) + " between objects");
          }
          start = i + 1;
        }
        continue;
      }
      if (b >= 0x80) {
        ascii = false;
      }
      if (inString) {
        if (escaped) {
          escaped = false;
        } else if (b == '\\') {
          escaped = true;
        } else if (b == '"') {
          inString = false;
        }
      } else if (b == '"') {
        inString = true;
      } else if (b == '{' || b == '[') {
        depth++;
      } else if (b == '}' || b == ']') {
        depth--;
        if (depth == 0) {
          appendRun(bytes, start, i + 1);
          start = i + 1;
          if (!discarding) {
            emitFrame();
          }
        }
      }
    }
    if (depth > 0 && !discarding) {
      appendRun(bytes, start, bytes.length);
    }
  }

  private void appendRun(byte[] bytes, int from, int to) {
    if (to <= from) {
      return;
    }
    if (frame.length() + (to - from) > maxFrameBytes) {
      fail(FrameError.OVERSIZED, "reply larger than " + maxFrameBytes + " bytes");
      return;
    }
    frame.appendBytes(bytes, from, to - from);
  }

  private void emitFrame() {
    Buffer complete = frame;
    int size = complete.length();
    clearFrame();
    JsonObject object;
    try {
      object = parse(complete);
    } catch (DecodeException | CharacterCodingException e) {
      fail(FrameError.GARBAGE, "invalid JSON object: " + conciseMessage(e));
      return;
    }
    listener.onObject(object, size);
  }

  private JsonObject parse(Buffer complete) throws CharacterCodingException {
    // Decoded strictly first: a lenient decoder would turn malformed UTF-8 into U+FFFD silently.
    // ASCII, nearly every reply, is valid UTF-8 as it is.
    String text = ascii ? complete.toString(StandardCharsets.ISO_8859_1)
        : utf8.reset().decode(ByteBuffer.wrap(complete.getBytes())).toString();
    return new JsonObject(text);
  }

  private static String conciseMessage(Exception e) {
    if (e instanceof CharacterCodingException) {
      return "not valid UTF-8";
    }
    String message = String.valueOf(e.getMessage());
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }

  private void fail(FrameError error, String detail) {
    clearFrame();
    discarding = recovery == Recovery.AT_DELIMITER || error == FrameError.OVERSIZED;
    listener.onError(error, detail);
  }

  private void clearFrame() {
    if (frame.length() > 0) {
      frame = Buffer.buffer(256);
    }
    depth = 0;
    inString = false;
    escaped = false;
  }
}
