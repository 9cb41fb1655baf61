package io.qgagateway.testing;

import io.qgagateway.sim.AgentPort;
import io.qgagateway.sim.Exchange;
import io.qgagateway.sim.ReplyWriter;
import io.qgagateway.sim.SimulatedAgent;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

/**
 * A {@link SimulatedAgent} whose replies can go wrong in the ways real channels do. Faults are
 * picked per request: first from {@link #next}, then {@link #onCommand}, then {@link #randomly};
 * 0xFF answers and parse errors are never faulted. Configure from any thread.
 */
public final class FaultyAgent implements ReplyWriter {

  public enum Fault {
    /** The reply as the real agent writes it. */
    NONE,
    /** The reply one byte per write. */
    BYTE_AT_A_TIME,
    /** Bytes that are not JSON, then the reply. */
    GARBAGE_BEFORE,
    /** Bytes that are not JSON in the middle of the reply. */
    GARBAGE_INSIDE,
    /**
     * No reply to this request; later ones are answered: an agent that died holding the request
     * and was restarted (inside a guest, the host socket sees nothing of it).
     */
    HANG,
    /** The reply after {@link #lateDelayMs}; later requests wait, as behind a slow command. */
    LATE,
    /** A well-formed reply of {@link #oversizedBytes} instead of the real one. */
    OVERSIZED,
    /** Half the reply, then the connection closes. */
    CLOSE_MID_REPLY,
    /** Stops reading and answering but keeps the socket open, until the client hangs up. */
    SILENT,
    /** The reply, and a stale return plus a stale delimited sync queued for the next sync. */
    STALE_BEFORE_SYNC,
    /** For a command without success response: an error instead of silence. */
    ERROR_FOR_NO_RESPONSE,
    /**
     * What qemu-ga does with a request over its parser's limits: a parse error without id, then
     * answers to the leftover bytes as if they were requests (an error, and another command's
     * return), and never the request's own reply.
     */
    SPLIT_REQUEST,
    /** The reply twice. */
    DUPLICATE_REPLY
  }

  // no 0xFF, no braces or quotes: it breaks JSON wherever it lands without changing framing
  private static final Buffer GARBAGE = Buffer.buffer("\u0001garbage\u0001");

  private final SimulatedAgent agent;
  private final ArrayDeque<Fault> next = new ArrayDeque<>();
  private final Map<String, Fault> byCommand = new HashMap<>();
  private final Map<String, Integer> byCommandLeft = new HashMap<>();
  private final EnumMap<Fault, Integer> injected = new EnumMap<>(Fault.class);
  private Buffer stale;
  private Random random;
  private double probability;
  private Fault[] choices;
  private long lateDelayMs = 1000;
  private int oversizedBytes = 1024 * 1024;

  public FaultyAgent(Vertx vertx, String hostName) {
    this(vertx, hostName, SimulatedAgent.Options.DEFAULTS);
  }

  public FaultyAgent(Vertx vertx, String hostName, SimulatedAgent.Options options) {
    this.agent = new SimulatedAgent(vertx, hostName, options.withWriter(this));
  }

  public SimulatedAgent agent() {
    return agent;
  }

  public Future<FaultyAgent> listenUnix(String path) {
    return agent.listenUnix(path).map(this);
  }

  public Future<FaultyAgent> listenTcp(int port) {
    return agent.listenTcp(port).map(this);
  }

  public Future<Void> close() {
    return agent.close();
  }

  /** The next {@code count} requests, whatever they are, get {@code fault}. */
  public synchronized FaultyAgent next(int count, Fault fault) {
    for (int i = 0; i < count; i++) {
      next.add(fault);
    }
    return this;
  }

  /** The next {@code times} requests of {@code command} get {@code fault}. */
  public synchronized FaultyAgent onCommand(String command, int times, Fault fault) {
    byCommand.put(command, fault);
    byCommandLeft.put(command, times);
    return this;
  }

  /** Each request not otherwise scheduled gets one of {@code faults} with {@code p}. */
  public synchronized FaultyAgent randomly(Random rng, double p, Fault... faults) {
    this.random = rng;
    this.probability = p;
    this.choices = faults.clone();
    return this;
  }

  /** Sends {@code {"return": value}} before the answer to the next sync (or 0xFF). */
  public synchronized FaultyAgent queueStaleReturn(Object value) {
    return queueStale(Buffer.buffer(new JsonObject().put("return", value).encode() + "\n"));
  }

  /** Sends 0xFF + {@code {"return": oldId}}, an earlier sync's answer, before the next one. */
  public synchronized FaultyAgent queueStaleSync(long oldId) {
    return queueStale(Buffer.buffer().appendByte((byte) 0xFF)
        .appendString(new JsonObject().put("return", oldId).encode() + "\n"));
  }

  private FaultyAgent queueStale(Buffer bytes) {
    stale = stale == null ? bytes : stale.appendBuffer(bytes);
    return this;
  }

  public synchronized FaultyAgent lateDelayMs(long ms) {
    this.lateDelayMs = ms;
    return this;
  }

  public synchronized FaultyAgent oversizedBytes(int bytes) {
    this.oversizedBytes = bytes;
    return this;
  }

  /** How often a fault was applied (NONE included). */
  public synchronized int injected(Fault fault) {
    return injected.getOrDefault(fault, 0);
  }

  public synchronized Map<Fault, Integer> injected() {
    return new EnumMap<>(injected);
  }

  // ---- the writer ------------------------------------------------------------------------------

  @Override
  public Future<Void> write(Exchange exchange, AgentPort port) {
    Fault fault;
    Buffer staleNow;
    long delay;
    int oversize;
    synchronized (this) {
      fault = exchange.kind() == Exchange.Kind.COMMAND ? choose(exchange.command()) : Fault.NONE;
      injected.merge(fault, 1, Integer::sum);
      boolean syncAnswer = exchange.kind() == Exchange.Kind.DELIMITER
          || "guest-sync-delimited".equals(exchange.command());
      staleNow = syncAnswer ? stale : null;
      if (syncAnswer) {
        stale = null;
      }
      if (fault == Fault.STALE_BEFORE_SYNC) {
        queueStaleReturn("stale-" + injected.get(fault));
        queueStaleSync(-injected.get(fault));
      }
      delay = lateDelayMs;
      oversize = oversizedBytes;
    }
    if (staleNow != null) {
      port.write(staleNow);
    }
    Buffer reply = exchange.reply();
    switch (fault) {
      case HANG:
        return Future.succeededFuture();
      case SILENT:
        return port.silence();
      case ERROR_FOR_NO_RESPONSE:
        port.write(reply != null ? reply
            : exchange.errorReply("GenericError", "injected failure of " + exchange.command()));
        return Future.succeededFuture();
      case OVERSIZED:
        port.write(oversized(oversize));
        return Future.succeededFuture();
      case LATE:
        return later(port, delay, reply);
      case SPLIT_REQUEST:
        port.write(Buffer.buffer("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON token"
            + " count limit exceeded\"}}\n{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON"
            + " parse error, invalid keyword\"}}\n{\"return\":{\"host-name\":\"not-yours\"}}\n"));
        return Future.succeededFuture();
      case CLOSE_MID_REPLY:
        if (reply != null) {
          port.write(reply.getBuffer(0, reply.length() / 2));
        }
        port.closeConnection();
        return Future.succeededFuture();
      default:
        break;
    }
    if (reply == null) {
      return Future.succeededFuture();
    }
    switch (fault) {
      case BYTE_AT_A_TIME:
        return byteByByte(port, reply, 0);
      case GARBAGE_BEFORE:
        port.write(GARBAGE.copy());
        port.write(reply);
        return Future.succeededFuture();
      case DUPLICATE_REPLY:
        port.write(reply.copy());
        port.write(reply);
        return Future.succeededFuture();
      case GARBAGE_INSIDE:
        int half = reply.length() / 2;
        port.write(reply.getBuffer(0, half).appendBuffer(GARBAGE).appendBuffer(
            reply.getBuffer(half, reply.length())));
        return Future.succeededFuture();
      default:
        port.write(reply);
        return Future.succeededFuture();
    }
  }

  private Fault choose(String command) {
    if (!next.isEmpty()) {
      return next.poll();
    }
    Integer left = command == null ? null : byCommandLeft.get(command);
    if (left != null) {
      Fault f = byCommand.get(command);
      if (left <= 1) {
        byCommand.remove(command);
        byCommandLeft.remove(command);
      } else {
        byCommandLeft.put(command, left - 1);
      }
      return f;
    }
    if (random != null && random.nextDouble() < probability) {
      return choices[random.nextInt(choices.length)];
    }
    return Fault.NONE;
  }

  private static Future<Void> later(AgentPort port, long delay, Buffer reply) {
    Promise<Void> done = Promise.promise();
    port.vertx().setTimer(Math.max(1, delay), id -> {
      if (reply != null) {
        port.write(reply);
      }
      done.complete();
    });
    return done.future();
  }

  /**
   * Each byte is written once the previous one was flushed, so the client sees many chunks. The
   * next byte goes in a task of its own: writes can complete at once, and chaining them directly
   * nests one call per byte until the stack overflows on a long reply.
   */
  private static Future<Void> byteByByte(AgentPort port, Buffer reply, int from) {
    Promise<Void> done = Promise.promise();
    writeFrom(port, reply, from, done);
    return done.future();
  }

  private static void writeFrom(AgentPort port, Buffer reply, int from, Promise<Void> done) {
    if (from >= reply.length()) {
      done.complete();
      return;
    }
    port.write(reply.getBuffer(from, from + 1)).onComplete(ar -> {
      if (ar.failed()) {
        done.complete();
      } else {
        port.vertx().runOnContext(v -> writeFrom(port, reply, from + 1, done));
      }
    });
  }

  private static Buffer oversized(int size) {
    String prefix = "{\"return\":\"";
    String suffix = "\"}\n";
    Buffer b = Buffer.buffer(size + 16).appendString(prefix);
    byte[] filler = new byte[Math.max(0, size - prefix.length() - suffix.length())];
    java.util.Arrays.fill(filler, (byte) 'x');
    return b.appendBytes(filler).appendString(suffix);
  }
}
