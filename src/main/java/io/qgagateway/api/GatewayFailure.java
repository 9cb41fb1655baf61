package io.qgagateway.api;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.MessageCodec;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

import java.nio.charset.StandardCharsets;

/**
 * A failure of the contract (API.md section 2): its code, the agent's error class when the agent
 * said it, and the message. Created where the fact is known (the link reading an agent error, the
 * request parser, policy) and mapped to an HTTP status or a bus failure only at the edge. Between
 * members it travels whole with {@link #CODEC}, so the HTTP edge of another member still has the
 * class without reading it back out of the message.
 */
public final class GatewayFailure extends ReplyException {

  private final String agentClass;
  private final String detail;
  private final long retryAfterSeconds;

  public GatewayFailure(int code, String agentClass, String detail) {
    this(code, agentClass, detail, -1);
  }

  /** @param retryAfterSeconds when to try again (a rate limit's 429), -1 when not said */
  public GatewayFailure(int code, String agentClass, String detail, long retryAfterSeconds) {
    super(ReplyFailure.RECIPIENT_FAILURE, code,
        agentClass == null ? detail : agentClass + ": " + detail);
    this.agentClass = agentClass;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Seconds until a retry may succeed (HTTP's Retry-After), -1 when not known. */
  public long retryAfterSeconds() {
    return retryAfterSeconds;
  }

  /** The agent's error class ({@code GenericError}, {@code CommandNotFound}, ...) or null. */
  public String agentClass() {
    return agentClass;
  }

  /** The message without the class. */
  public String detail() {
    return detail;
  }

  /** Carries a {@link GatewayFailure} over the clustered bus with its class intact. */
  public static final MessageCodec<GatewayFailure, GatewayFailure> CODEC = new MessageCodec<>() {
    @Override
    public void encodeToWire(Buffer buffer, GatewayFailure f) {
      buffer.appendInt(f.failureCode());
      writeString(buffer, f.agentClass);
      writeString(buffer, f.detail);
      buffer.appendLong(f.retryAfterSeconds);
    }

    @Override
    public GatewayFailure decodeFromWire(int pos, Buffer buffer) {
      int code = buffer.getInt(pos);
      pos += 4;
      String agentClass = readString(buffer, pos);
      pos += 4 + Math.max(0, buffer.getInt(pos));
      String detail = readString(buffer, pos);
      pos += 4 + Math.max(0, buffer.getInt(pos));
      return new GatewayFailure(code, agentClass, detail, buffer.getLong(pos));
    }

    @Override
    public GatewayFailure transform(GatewayFailure f) {
      return f;
    }

    @Override
    public String name() {
      return "qga-failure";
    }

    @Override
    public byte systemCodecID() {
      return -1;
    }
  };

  private static void writeString(Buffer buffer, String s) {
    if (s == null) {
      buffer.appendInt(-1);
      return;
    }
    byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
    buffer.appendInt(bytes.length).appendBytes(bytes);
  }

  private static String readString(Buffer buffer, int pos) {
    int length = buffer.getInt(pos);
    return length < 0 ? null
        : new String(buffer.getBytes(pos + 4, pos + 4 + length), StandardCharsets.UTF_8);
  }
}
