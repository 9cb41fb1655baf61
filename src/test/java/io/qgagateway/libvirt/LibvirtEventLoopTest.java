package io.qgagateway.libvirt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Callback;
import com.sun.jna.CallbackReference;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The gateway's libvirt event loop on real descriptors (a pipe), called the way libvirt calls an
 * event implementation, through native function pointers. No libvirt needed.
 */
class LibvirtEventLoopTest {

  interface Posix extends Library {
    Posix C = Native.load("c", Posix.class);

    int pipe(int[] fds);

    NativeLong write(int fd, Pointer buf, NativeLong count);

    NativeLong read(int fd, Pointer buf, NativeLong count);

    int close(int fd);

    int socketpair(int domain, int type, int protocol, int[] fds);
  }

  /** virEventHandleCallback */
  interface HandleCallback extends Callback {
    void invoke(int watch, int fd, int events, Pointer opaque);
  }

  /** virEventTimeoutCallback */
  interface TimeoutCallback extends Callback {
    void invoke(int timer, Pointer opaque);
  }

  /** virFreeCallback */
  interface FreeCallback extends Callback {
    void invoke(Pointer opaque);
  }

  private record Fired(String what, int id, int events, Thread thread) {
  }

  private final BlockingQueue<Fired> fired = new LinkedBlockingQueue<>();
  private final int[] pipe = new int[2];
  private final java.util.List<Integer> watches = new java.util.ArrayList<>();
  private LibvirtEventLoop loop;
  // native pointers to these are handed out: they must stay reachable
  private HandleCallback onReadable;
  private TimeoutCallback onTimer;
  private final FreeCallback onFree = opaque ->
      fired.add(new Fired("free", (int) Pointer.nativeValue(opaque), 0, Thread.currentThread()));

  @BeforeEach
  void start() {
    assertEquals(0, Posix.C.pipe(pipe));
    loop = new LibvirtEventLoop().start("libvirt-events-test");
    onReadable = (watch, fd, events, opaque) -> {
      Memory buf = new Memory(64);
      Posix.C.read(fd, buf, new NativeLong(64));
      fired.add(new Fired("handle", watch, events, Thread.currentThread()));
    };
    onTimer = (timer, opaque) -> fired.add(new Fired("timer", timer, 0, Thread.currentThread()));
  }

  @AfterEach
  void closePipe() {
    // the loop runs on (one per JVM in the gateway): its handles must not watch reused numbers
    watches.forEach(loop::removeHandle);
    Posix.C.close(pipe[0]);
    Posix.C.close(pipe[1]);
  }

  private void writeByte() {
    Memory b = new Memory(1);
    b.setByte(0, (byte) 1);
    assertEquals(1, Posix.C.write(pipe[1], b, new NativeLong(1)).intValue());
  }

  private Fired next() throws InterruptedException {
    Fired f = fired.poll(5, TimeUnit.SECONDS);
    assertTrue(f != null, "nothing fired within 5 s");
    return f;
  }

  private int watchPipe() {
    int watch = loop.addHandle(pipe[0], LibvirtEventLoop.READABLE,
        CallbackReference.getFunctionPointer(onReadable), new Pointer(7),
        CallbackReference.getFunctionPointer(onFree));
    watches.add(watch);
    return watch;
  }

  @Test
  void aReadableDescriptorIsDispatchedOnTheLoopThreadWhileItsEventsAreOn() throws Exception {
    int watch = watchPipe();
    assertTrue(watch > 0);
    writeByte();
    Fired f = next();
    assertEquals("handle", f.what());
    assertEquals(watch, f.id());
    assertEquals(LibvirtEventLoop.READABLE, f.events());
    assertEquals("libvirt-events-test", f.thread().getName());

    // muted, as libvirt's RPC client does while a call owns the socket
    loop.updateHandle(watch, 0);
    writeByte();
    assertEquals(null, fired.poll(300, TimeUnit.MILLISECONDS));
    loop.updateHandle(watch, LibvirtEventLoop.READABLE);
    assertEquals("handle", next().what());
  }

  @Test
  void aRemovedHandleIsFreedOnTheLoopThreadAfterTheRemovalAndNeverDispatched() throws Exception {
    int watch = watchPipe();
    assertEquals(0, loop.removeHandle(watch));
    assertEquals(-1, loop.removeHandle(watch));
    writeByte();
    Fired f = next();
    assertEquals("free", f.what());
    assertEquals(7, f.id());
    assertEquals("libvirt-events-test", f.thread().getName());
    assertEquals(null, fired.poll(300, TimeUnit.MILLISECONDS));
  }

  @Test
  void aCallbackMayRemoveItsOwnHandle() throws Exception {
    AtomicInteger self = new AtomicInteger();
    HandleCallback once = (watch, fd, events, opaque) -> {
      loop.removeHandle(self.get());
      fired.add(new Fired("handle", watch, events, Thread.currentThread()));
    };
    onReadable = once;
    self.set(watchPipe());
    writeByte();
    assertEquals("handle", next().what());
    assertEquals("free", next().what());
    writeByte();
    assertEquals(null, fired.poll(300, TimeUnit.MILLISECONDS));
  }

  @Test
  void aPeriodicTimerFiresUntilTurnedOffAndAnUpdateRestartsItsPeriod() throws Exception {
    long start = System.nanoTime();
    int timer = loop.addTimeout(50, CallbackReference.getFunctionPointer(onTimer), null, null);
    assertTrue(timer > 0);
    assertEquals("timer", next().what());
    assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(50), "fired early");
    assertEquals(timer, next().id());
    loop.updateTimeout(timer, -1);
    fired.clear();
    assertEquals(null, fired.poll(300, TimeUnit.MILLISECONDS));
    long restarted = System.nanoTime();
    loop.updateTimeout(timer, 200);
    next();
    assertTrue(System.nanoTime() - restarted >= TimeUnit.MILLISECONDS.toNanos(200));
    assertEquals(0, loop.removeTimeout(timer));
  }

  @Test
  void aZeroTimerFiresOnEveryTurnUntilItsCallbackTurnsItOff() throws Exception {
    // libvirt's remote driver flushes queued domain events this way: off (-1), 0 to flush
    AtomicInteger count = new AtomicInteger();
    AtomicInteger self = new AtomicInteger();
    TimeoutCallback flush = (timer, opaque) -> {
      if (count.incrementAndGet() == 3) {
        loop.updateTimeout(self.get(), -1);
        fired.add(new Fired("timer", timer, 0, Thread.currentThread()));
      }
    };
    onTimer = flush;
    self.set(loop.addTimeout(-1, CallbackReference.getFunctionPointer(onTimer), null, null));
    assertEquals(null, fired.poll(200, TimeUnit.MILLISECONDS));
    assertEquals(0, count.get());
    loop.updateTimeout(self.get(), 0);
    assertEquals("timer", next().what());
    Thread.sleep(200);
    assertEquals(3, count.get());
  }

  @Test
  void handlesAddedWhileDecliningAreRefusedOnThatThreadOnlyAndTheirDescriptorsKept()
      throws Exception {
    LibvirtEventLoop.Unwatched<Integer> declined = loop.unwatched(this::watchPipe);
    assertEquals(-1, declined.value());
    assertEquals(java.util.List.of(pipe[0]), declined.fds());
    int watched = watchPipe();
    assertNotEquals(-1, watched);
    writeByte();
    assertEquals(watched, next().id());
  }

  @Test
  void aHungUpSocketEndsTheReadBlockedOnIt() throws Exception {
    int[] pair = new int[2];
    // AF_UNIX, SOCK_STREAM: what a libvirt connection is
    assertEquals(0, Posix.C.socketpair(1, 1, 0, pair));
    try {
      java.util.concurrent.CompletableFuture<Long> read =
          java.util.concurrent.CompletableFuture.supplyAsync(() ->
              Posix.C.read(pair[0], new Memory(16), new NativeLong(16)).longValue());
      Thread.sleep(200);
      assertEquals(false, read.isDone(), "the read should still wait for the peer");
      loop.hangUp(pair[0]);
      assertEquals(0L, read.get(5, TimeUnit.SECONDS), "end of file");
    } finally {
      Posix.C.close(pair[0]);
      Posix.C.close(pair[1]);
    }
  }
}
