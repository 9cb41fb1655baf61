package io.qgagateway.testing;

import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkDriver;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * A {@link LinkDriver} driven by hand: time moves only when a test says so, connections are
 * opened and fed by the test, and everything the link writes is kept. So a link's behaviour is
 * tested byte by byte, with no socket, no thread and no sleep.
 */
public final class ManualDriver implements LinkDriver {

  // on System.nanoTime's clock, as Deadline is, moved on by advance()
  private long skew;
  private long nextTimer = 1;
  // due time -> id -> action, in order of due time, then of setting
  private final TreeMap<Long, TreeMap<Long, Runnable>> timers = new TreeMap<>();
  private final Map<Long, Long> dueById = new java.util.HashMap<>();
  private WireListener listener;
  private Future<Wire> pendingConnect;
  private io.vertx.core.Promise<Wire> connectPromise;
  public int connects;
  /** Timers set so far: the hot path must not set one per command. */
  public int timersSet;
  public FakeWire wire;

  /** One connection: what the link wrote to it, and whether it closed it. */
  public final class FakeWire implements Wire {
    public final List<Buffer> writes = new ArrayList<>();
    public boolean closed;

    @Override
    public void write(Buffer bytes) {
      writes.add(bytes.copy());
    }

    @Override
    public void close() {
      closed = true;
    }

    /** Every write as text, 0xFF shown as {@code <FF>}, one per line. */
    public List<String> texts() {
      List<String> out = new ArrayList<>();
      for (Buffer b : writes) {
        out.add(text(b));
      }
      return out;
    }

    /** The last write as JSON (after a leading 0xFF, if any). */
    public JsonObject lastJson() {
      Buffer b = writes.get(writes.size() - 1);
      int from = b.getByte(0) == (byte) 0xFF ? 1 : 0;
      return new JsonObject(b.getString(from, b.length(), StandardCharsets.UTF_8.name()));
    }

    /** The agent speaks: bytes as if read from the socket. */
    public void agentSays(String text) {
      listener.bytes(this, Buffer.buffer(text.replace("<FF>", "\u00ff")
          .getBytes(StandardCharsets.ISO_8859_1)));
    }

    /** The connection ends from the far side. */
    public void eof() {
      listener.closed(this, "connection closed");
    }
  }

  public static String text(Buffer b) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < b.length(); i++) {
      int c = b.getByte(i) & 0xFF;
      sb.append(c == 0xFF ? "<FF>" : String.valueOf((char) c));
    }
    return sb.toString().stripTrailing();
  }

  @Override
  public Context context() {
    return null;
  }

  @Override
  public long nanoTime() {
    return System.nanoTime() + skew;
  }

  @Override
  public long setTimer(long delayMs, Runnable action) {
    long id = nextTimer++;
    timersSet++;
    long due = nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(1, delayMs));
    timers.computeIfAbsent(due, k -> new TreeMap<>()).put(id, action);
    dueById.put(id, due);
    return id;
  }

  @Override
  public void cancelTimer(long id) {
    Long due = dueById.remove(id);
    if (due != null) {
      TreeMap<Long, Runnable> at = timers.get(due);
      at.remove(id);
      if (at.isEmpty()) {
        timers.remove(due);
      }
    }
  }

  @Override
  public Future<Wire> connect(GuestTarget target, WireListener listener) {
    this.listener = listener;
    connects++;
    connectPromise = io.vertx.core.Promise.promise();
    pendingConnect = connectPromise.future();
    return pendingConnect;
  }

  /** Completes the pending connect with a fresh wire. */
  public FakeWire accept() {
    wire = new FakeWire();
    connectPromise.complete(wire);
    return wire;
  }

  public void refuse() {
    connectPromise.fail("connection refused");
  }

  @Override
  public Future<Void> close() {
    return Future.succeededFuture();
  }

  /** Moves time on by {@code ms}, running every timer that falls due, in order. */
  public void advance(long ms) {
    long until = nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    while (!timers.isEmpty() && timers.firstKey() - until <= 0) {
      long due = timers.firstKey();
      TreeMap<Long, Runnable> at = timers.get(due);
      long id = at.firstKey();
      Runnable action = at.remove(id);
      if (at.isEmpty()) {
        timers.remove(due);
      }
      dueById.remove(id);
      skew += Math.max(0, due - nanoTime());
      action.run();
    }
    skew += Math.max(0, until - nanoTime());
  }
}
