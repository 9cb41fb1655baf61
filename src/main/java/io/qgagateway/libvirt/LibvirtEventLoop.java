package io.qgagateway.libvirt;

import com.sun.jna.Callback;
import com.sun.jna.Function;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * libvirt's event loop ({@code virEventRegisterImpl}), implemented here on {@code poll(2)}
 * instead of libvirt's default, for one reason: so that the connections that carry calls can stay
 * out of it. libvirt registers a connection's socket with the event implementation when the
 * connection opens. A registered connection hands its socket to and from the loop's thread around
 * every call, which wakes that thread twice per call; a connection whose registration is declined
 * does its I/O on the calling thread, as a client without an event loop does (python-libvirt's
 * plain loop). The connection that carries events keeps the loop, and with it events, keepalive
 * and the close callback. Connections opened inside {@link #unwatched} are declined.
 *
 * <p>The semantics are those libvirt documents for an event implementation: a handle with no
 * events stays registered but is not polled; a timer's frequency is -1 (off), 0 (every
 * iteration) or a period in milliseconds counted from the add or the update; callbacks run on the
 * loop's thread and may add, update and remove; a removed registration's free callback runs on
 * the loop's thread after the removal returned, never inside it.
 */
final class LibvirtEventLoop {

  private static final Logger log = LoggerFactory.getLogger(LibvirtEventLoop.class);

  // virEventHandleType
  static final int READABLE = 1;
  static final int WRITABLE = 2;
  static final int ERROR = 4;
  static final int HANGUP = 8;
  // poll.h (Linux)
  private static final short POLLIN = 0x1;
  private static final short POLLOUT = 0x4;
  private static final short POLLERR = 0x8;
  private static final short POLLHUP = 0x10;
  private static final short POLLNVAL = 0x20;
  private static final int POLLFD_SIZE = 8;
  private static final int EFD_NONBLOCK = 04000;
  private static final int EFD_CLOEXEC = 02000000;
  private static final int SHUT_RDWR = 2;
  private static final int EINTR = 4;

  /** The C library: poll, and an eventfd to wake the poll. */
  interface LibC extends Library {
    int poll(Pointer fds, NativeLong nfds, int timeoutMs);

    int eventfd(int initval, int flags);

    NativeLong read(int fd, Pointer buf, NativeLong count);

    NativeLong write(int fd, Pointer buf, NativeLong count);

    int shutdown(int fd, int how);
  }

  /** What {@link #unwatched} opened, and the descriptors libvirt offered the loop meanwhile. */
  record Unwatched<T>(T value, List<Integer> fds) {
  }

  /** virEventAddHandleFunc */
  public interface AddHandle extends Callback {
    int invoke(int fd, int events, Pointer cb, Pointer opaque, Pointer ff);
  }

  /** virEventUpdateHandleFunc */
  public interface UpdateHandle extends Callback {
    void invoke(int watch, int events);
  }

  /** virEventRemoveHandleFunc, virEventRemoveTimeoutFunc */
  public interface Remove extends Callback {
    int invoke(int id);
  }

  /** virEventAddTimeoutFunc */
  public interface AddTimeout extends Callback {
    int invoke(int frequencyMs, Pointer cb, Pointer opaque, Pointer ff);
  }

  /** virEventUpdateTimeoutFunc */
  public interface UpdateTimeout extends Callback {
    void invoke(int timer, int frequencyMs);
  }

  /** A handle or a timer: the callback, its argument and its free callback. */
  private abstract static class Registration {
    final int id;
    final Function cb;
    final Pointer opaque;
    final Pointer ff;
    boolean removed;

    Registration(int id, Pointer cb, Pointer opaque, Pointer ff) {
      this.id = id;
      this.cb = Function.getFunction(cb);
      this.opaque = opaque;
      this.ff = ff;
    }
  }

  private static final class Handle extends Registration {
    final int fd;
    int events;

    Handle(int id, int fd, int events, Pointer cb, Pointer opaque, Pointer ff) {
      super(id, cb, opaque, ff);
      this.fd = fd;
      this.events = events;
    }
  }

  private static final class Timer extends Registration {
    int frequencyMs;
    long dueNanos;

    Timer(int id, Pointer cb, Pointer opaque, Pointer ff) {
      super(id, cb, opaque, ff);
    }
  }

  private final LibC libc;
  private final int wakeFd;
  private final Memory one = new Memory(8);
  private final Memory drain = new Memory(8);
  // set while this thread opens unwatched connections: what they offered
  private final ThreadLocal<List<Integer>> declined = new ThreadLocal<>();
  // guarded by this
  private final Map<Integer, Handle> handles = new LinkedHashMap<>();
  private final Map<Integer, Timer> timers = new LinkedHashMap<>();
  private int nextId = 1;
  private Memory pollFds = new Memory(POLLFD_SIZE * 16L);
  private volatile Thread thread;

  // libvirt keeps these pointers: they must stay reachable as long as the loop
  final AddHandle addHandle = this::addHandle;
  final UpdateHandle updateHandle = this::updateHandle;
  final Remove removeHandle = this::removeHandle;
  final AddTimeout addTimeout = this::addTimeout;
  final UpdateTimeout updateTimeout = this::updateTimeout;
  final Remove removeTimeout = this::removeTimeout;

  LibvirtEventLoop() {
    this.libc = Native.load("c", LibC.class);
    this.wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd < 0) {
      throw new IllegalStateException("eventfd failed: errno " + Native.getLastError());
    }
    one.setLong(0, 1);
  }

  /** Starts the loop on a daemon thread of its own. */
  LibvirtEventLoop start(String threadName) {
    Thread t = new Thread(this::run, threadName);
    t.setDaemon(true);
    thread = t;
    t.start();
    return this;
  }

  /** Runs {@code open} with every handle it adds on this thread declined. */
  <T> Unwatched<T> unwatched(Supplier<T> open) {
    List<Integer> fds = new ArrayList<>();
    declined.set(fds);
    try {
      T value = open.get();
      return new Unwatched<>(value, List.copyOf(fds));
    } finally {
      declined.remove();
    }
  }

  /**
   * Shuts a declined socket down both ways, so that a call blocked on it fails at once with an
   * end of file: nothing else wakes a call on a connection outside the loop (it has no
   * keepalive). The descriptor stays libvirt's to close; call this only before closing it.
   */
  void hangUp(int fd) {
    libc.shutdown(fd, SHUT_RDWR);
  }

  int addHandle(int fd, int events, Pointer cb, Pointer opaque, Pointer ff) {
    List<Integer> declining = declined.get();
    if (declining != null) {
      declining.add(fd);
      return -1;
    }
    return add(handles, id -> new Handle(id, fd, events, cb, opaque, ff));
  }

  void updateHandle(int watch, int events) {
    synchronized (this) {
      Handle h = handles.get(watch);
      if (h == null || h.removed || h.events == events) {
        return;
      }
      h.events = events;
    }
    wake();
  }

  int removeHandle(int watch) {
    return remove(handles, watch);
  }

  int addTimeout(int frequencyMs, Pointer cb, Pointer opaque, Pointer ff) {
    return add(timers, id -> {
      Timer t = new Timer(id, cb, opaque, ff);
      schedule(t, frequencyMs);
      return t;
    });
  }

  /** Registers under a new id (handles and timers share the count); -1 if that fails. */
  private <R extends Registration> int add(Map<Integer, R> registrations, IntFunction<R> make) {
    try {
      int id;
      synchronized (this) {
        id = nextId++;
        registrations.put(id, make.apply(id));
      }
      wake();
      return id;
    } catch (RuntimeException e) {
      log.warn("libvirt event registration not added: " + e);
      return -1;
    }
  }

  void updateTimeout(int timer, int frequencyMs) {
    synchronized (this) {
      Timer t = timers.get(timer);
      if (t == null || t.removed) {
        return;
      }
      schedule(t, frequencyMs);
    }
    wake();
  }

  int removeTimeout(int timer) {
    return remove(timers, timer);
  }

  private int remove(Map<Integer, ? extends Registration> registrations, int id) {
    synchronized (this) {
      Registration r = registrations.get(id);
      if (r == null || r.removed) {
        return -1;
      }
      r.removed = true;
    }
    // the loop frees it on its next turn
    wake();
    return 0;
  }

  private static void schedule(Timer t, int frequencyMs) {
    t.frequencyMs = frequencyMs;
    t.dueNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, frequencyMs));
  }

  private void wake() {
    if (Thread.currentThread() != thread) {
      libc.write(wakeFd, one, new NativeLong(8));
    }
  }

  private void run() {
    while (true) {
      try {
        runOnce();
      } catch (RuntimeException | Error e) {
        // a callback that throws must not stop events for every other connection, nor flood
        // the log turn after turn
        log.error("libvirt event loop: " + e, e);
        pause();
      }
    }
  }

  private static void pause() {
    try {
      Thread.sleep(100);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One turn: free what was removed, poll, fire due timers, dispatch ready handles. */
  void runOnce() {
    List<Registration> freed = new ArrayList<>();
    List<Handle> polled = new ArrayList<>();
    int timeoutMs;
    synchronized (this) {
      sweep(handles, freed);
      sweep(timers, freed);
      for (Handle h : handles.values()) {
        if (h.events != 0) {
          polled.add(h);
        }
      }
      timeoutMs = nextTimeoutMs(System.nanoTime());
    }
    for (Registration r : freed) {
      if (r.ff != null) {
        Function.getFunction(r.ff).invokeVoid(new Object[] {r.opaque});
      }
    }
    Memory fds = pollSet(polled);
    int ready = libc.poll(fds, new NativeLong(polled.size() + 1L), timeoutMs);
    if (ready < 0) {
      int errno = Native.getLastError();
      if (errno != EINTR) {
        // not expected (poll fails only on bad arguments or no memory): do not spin on it
        log.warn("libvirt event loop: poll failed, errno " + errno);
        pause();
      }
      return;
    }
    if (fds.getShort(6) != 0) {
      libc.read(wakeFd, drain, new NativeLong(8));
    }
    fireTimers();
    for (int i = 0; i < polled.size(); i++) {
      short revents = fds.getShort((i + 1L) * POLLFD_SIZE + 6);
      if (revents != 0) {
        dispatch(polled.get(i), revents);
      }
    }
  }

  private Memory pollSet(List<Handle> polled) {
    long size = (polled.size() + 1L) * POLLFD_SIZE;
    if (pollFds.size() < size) {
      pollFds = new Memory(size * 2);
    }
    Memory fds = pollFds;
    setPollFd(fds, 0, wakeFd, POLLIN);
    for (int i = 0; i < polled.size(); i++) {
      Handle h = polled.get(i);
      setPollFd(fds, i + 1, h.fd, toPoll(h.events));
    }
    return fds;
  }

  private static void setPollFd(Memory fds, int index, int fd, short events) {
    long at = (long) index * POLLFD_SIZE;
    fds.setInt(at, fd);
    fds.setShort(at + 4, events);
    fds.setShort(at + 6, (short) 0);
  }

  private static <R extends Registration> void sweep(Map<Integer, R> registrations,
                                                     List<Registration> freed) {
    for (Iterator<R> it = registrations.values().iterator(); it.hasNext(); ) {
      R r = it.next();
      if (r.removed) {
        it.remove();
        freed.add(r);
      }
    }
  }

  /** -1 (no timer on: wait for descriptors or a wake-up), else ms to the first due timer. */
  private int nextTimeoutMs(long now) {
    long first = Long.MAX_VALUE;
    for (Timer t : timers.values()) {
      if (t.frequencyMs >= 0) {
        first = Math.min(first, t.dueNanos - now);
      }
    }
    if (first == Long.MAX_VALUE) {
      return -1;
    }
    // rounded up, so a timer is never fired early and the loop never spins before it is due
    return (int) Math.min(Integer.MAX_VALUE,
        Math.max(0, (first + 999_999) / 1_000_000));
  }

  private void fireTimers() {
    long now = System.nanoTime();
    List<Timer> due = new ArrayList<>();
    synchronized (this) {
      for (Timer t : timers.values()) {
        if (!t.removed && t.frequencyMs >= 0 && t.dueNanos <= now) {
          t.dueNanos = now + TimeUnit.MILLISECONDS.toNanos(t.frequencyMs);
          due.add(t);
        }
      }
    }
    for (Timer t : due) {
      synchronized (this) {
        // an earlier callback of this turn may have turned it off
        if (t.removed || t.frequencyMs < 0) {
          continue;
        }
      }
      t.cb.invokeVoid(new Object[] {t.id, t.opaque});
    }
  }

  private void dispatch(Handle h, short revents) {
    synchronized (this) {
      // removed or muted since the poll (a call took its socket): not wanted now
      if (h.removed || h.events == 0) {
        return;
      }
    }
    h.cb.invokeVoid(new Object[] {h.id, h.fd, fromPoll(revents), h.opaque});
  }

  static short toPoll(int events) {
    int out = 0;
    if ((events & READABLE) != 0) {
      out |= POLLIN;
    }
    if ((events & WRITABLE) != 0) {
      out |= POLLOUT;
    }
    if ((events & ERROR) != 0) {
      out |= POLLERR;
    }
    if ((events & HANGUP) != 0) {
      out |= POLLHUP;
    }
    return (short) out;
  }

  static int fromPoll(short revents) {
    int out = 0;
    if ((revents & POLLIN) != 0) {
      out |= READABLE;
    }
    if ((revents & POLLOUT) != 0) {
      out |= WRITABLE;
    }
    if ((revents & (POLLERR | POLLNVAL)) != 0) {
      out |= ERROR;
    }
    if ((revents & POLLHUP) != 0) {
      out |= HANGUP;
    }
    return out;
  }
}
