package io.qgagateway.libvirt;

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link Hypervisor} over libvirt's C library ({@code libvirt.so.0}, {@code libvirt-qemu.so.0};
 * Debian's {@code libvirt0}) through JNA: the twenty-odd functions of libvirt's stable ABI the
 * gateway needs, bound directly rather than through libvirt-java 0.5.2, which has no agent
 * lifecycle events, no {@code virConnectListAllDomains} and no state reasons, and pins JNA to
 * 5.5.0 or older (docs/ARCHITECTURE.md, "libvirt").
 *
 * <p>libvirt's connections are thread-safe; its calls block the calling thread. Errors are
 * thread-local in libvirt and read right after the failing call on the same thread. Events run
 * on one daemon thread per JVM ({@code libvirt-events}) that drives the gateway's own
 * {@link LibvirtEventLoop}, registered before the first connection as libvirt requires. Only the
 * connection that carries events is registered with it; the connections that carry calls do their
 * I/O on the calling thread.
 */
public final class JnaHypervisor implements Hypervisor {

  private static final Logger log = LoggerFactory.getLogger(JnaHypervisor.class);

  private static final int EVENT_LIFECYCLE = 0;
  private static final int EVENT_REBOOT = 1;
  private static final int EVENT_DEVICE_REMOVED = 15;
  private static final int EVENT_AGENT_LIFECYCLE = 18;
  private static final int EVENT_DEVICE_ADDED = 19;
  private static final int LIST_ACTIVE = 1;
  private static final int LIST_INACTIVE = 2;
  private static final int SHUTDOWN_GUEST_AGENT = 2;
  private static final int REBOOT_GUEST_AGENT = 2;
  private static final int AGENT_CONNECTED = 1;

  /** libvirt.so.0 */
  public interface Virt extends Library {
    int virInitialize();

    void virEventRegisterImpl(LibvirtEventLoop.AddHandle addHandle,
                              LibvirtEventLoop.UpdateHandle updateHandle,
                              LibvirtEventLoop.Remove removeHandle,
                              LibvirtEventLoop.AddTimeout addTimeout,
                              LibvirtEventLoop.UpdateTimeout updateTimeout,
                              LibvirtEventLoop.Remove removeTimeout);

    void virSetErrorFunc(Pointer userData, ErrorCallback handler);

    int virGetLastErrorCode();

    int virGetLastErrorDomain();

    String virGetLastErrorMessage();

    Pointer virConnectOpen(String uri);

    int virConnectClose(Pointer conn);

    int virConnectSetKeepAlive(Pointer conn, int interval, int count);

    int virConnectRegisterCloseCallback(Pointer conn, CloseCallback cb, Pointer opaque,
                                        Pointer freecb);

    int virConnectUnregisterCloseCallback(Pointer conn, CloseCallback cb);

    int virConnectDomainEventRegisterAny(Pointer conn, Pointer dom, int eventId, Callback cb,
                                         Pointer opaque, Pointer freecb);

    int virConnectDomainEventDeregisterAny(Pointer conn, int callbackId);

    int virConnectListAllDomains(Pointer conn, PointerByReference domains, int flags);

    Pointer virDomainLookupByUUIDString(Pointer conn, String uuid);

    int virDomainGetUUIDString(Pointer dom, byte[] buf);

    String virDomainGetName(Pointer dom);

    int virDomainGetState(Pointer dom, IntByReference state, IntByReference reason, int flags);

    Pointer virDomainGetXMLDesc(Pointer dom, int flags);

    int virDomainShutdownFlags(Pointer dom, int flags);

    int virDomainReboot(Pointer dom, int flags);

    int virDomainPMSuspendForDuration(Pointer dom, int target, long duration, int flags);

    int virDomainPMWakeup(Pointer dom, int flags);

    int virDomainFree(Pointer dom);
  }

  /** libvirt-qemu.so.0 */
  public interface VirtQemu extends Library {
    Pointer virDomainQemuAgentCommand(Pointer dom, String cmd, int timeout, int flags);
  }

  public interface ErrorCallback extends Callback {
    void invoke(Pointer userData, Pointer error);
  }

  public interface CloseCallback extends Callback {
    void invoke(Pointer conn, int reason, Pointer opaque);
  }

  public interface LifecycleCallback extends Callback {
    int invoke(Pointer conn, Pointer dom, int event, int detail, Pointer opaque);
  }

  public interface AgentCallback extends Callback {
    void invoke(Pointer conn, Pointer dom, int state, int reason, Pointer opaque);
  }

  public interface GenericCallback extends Callback {
    void invoke(Pointer conn, Pointer dom, Pointer opaque);
  }

  public interface DeviceCallback extends Callback {
    void invoke(Pointer conn, Pointer dom, String alias, Pointer opaque);
  }

  private static final Map<String, Object> OPTIONS =
      Map.of(Library.OPTION_STRING_ENCODING, StandardCharsets.UTF_8.name());
  private static volatile Libraries libraries;
  private static Throwable loadFailure;
  // JNA callbacks must stay reachable while libvirt may call them
  private static final ErrorCallback SILENT = (userData, error) -> { };

  private record Libraries(Virt virt, VirtQemu qemu, LibvirtEventLoop events) {
  }

  private final String uri;
  private final Virt virt;
  private final VirtQemu qemu;
  private final LibvirtEventLoop events;
  private final int laneCount;
  // the connections calls are spread over, outside the event loop
  private volatile Lane[] lanes = new Lane[0];
  // the connection of events, listings and the close callback, in the event loop
  private volatile Pointer conn;
  private volatile Listener listener;
  private final List<Integer> callbackIds = new ArrayList<>();

  /**
   * One connection of the pool, with its own domain handles (a handle belongs to the
   * connection it was looked up on). libvirtd serves at most {@code max_client_requests} (5 by
   * default) calls of one connection at a time, so long agent calls of a few guests (a freeze,
   * an fstrim) would hold up every other guest's on a single connection.
   */
  private final class Lane {
    final Pointer conn;
    final List<Integer> sockets;
    final Map<String, Pointer> handles = new ConcurrentHashMap<>();
    final java.util.concurrent.atomic.AtomicInteger busy =
        new java.util.concurrent.atomic.AtomicInteger();
    // why this connection's sockets were shut down, once they were
    private volatile String hungUp;

    Lane(Pointer conn, List<Integer> sockets) {
      this.conn = conn;
      this.sockets = sockets;
    }

    /**
     * Fails the calls blocked on this connection, once, and before it is closed (its sockets
     * are libvirt's, and their numbers are reused once closed). Never holds a lock of libvirt's.
     */
    synchronized void hangUp(String why) {
      if (hungUp == null) {
        hungUp = why;
        sockets.forEach(events::hangUp);
      }
    }

    /** A cached domain handle: a lookup is an RPC, the handle stays valid across restarts. */
    Pointer handle(String uuid) throws HypervisorException {
      Pointer cached = handles.get(uuid);
      if (cached != null) {
        return cached;
      }
      Pointer dom = virt.virDomainLookupByUUIDString(conn, uuid);
      if (dom == null) {
        throw lastError();
      }
      Pointer raced = handles.putIfAbsent(uuid, dom);
      if (raced != null) {
        virt.virDomainFree(dom);
        return raced;
      }
      return dom;
    }

    void forget(String uuid) {
      Pointer dom = handles.remove(uuid);
      if (dom != null) {
        virt.virDomainFree(dom);
      }
    }

    void free() {
      handles.values().forEach(virt::virDomainFree);
      handles.clear();
    }
  }

  /** A call on the least busy connection. */
  @FunctionalInterface
  private interface LaneCall<T> {
    T call(Lane lane) throws HypervisorException;
  }

  private <T> T onLane(LaneCall<T> call) throws HypervisorException {
    Lane[] all = lanes;
    if (all.length == 0) {
      throw new HypervisorException(HypervisorException.NO_CONNECT, 0, "not connected to " + uri);
    }
    Lane lane = all[0];
    for (Lane l : all) {
      if (l.busy.get() < lane.busy.get()) {
        lane = l;
      }
    }
    lane.busy.incrementAndGet();
    try {
      return call.call(lane);
    } catch (HypervisorException e) {
      String why = lane.hungUp;
      // libvirt only saw an end of file: say what ended the connection
      throw why == null ? e : new HypervisorException(HypervisorException.NO_CONNECT, e.domain(),
          "the connection to libvirtd was closed under the call: " + why);
    } finally {
      lane.busy.decrementAndGet();
    }
  }

  private boolean ours(Pointer c) {
    if (c == null) {
      return false;
    }
    if (c.equals(conn)) {
      return true;
    }
    for (Lane l : lanes) {
      if (c.equals(l.conn)) {
        return true;
      }
    }
    return false;
  }

  private final LifecycleCallback lifecycle = (c, dom, event, detail, opaque) -> {
    Listener l = listener;
    if (l != null && c != null && c.equals(conn)) {
      l.lifecycle(uuidOf(dom), nameOf(dom), event, detail);
    }
    return 0;
  };
  private final AgentCallback agent = (c, dom, state, reason, opaque) -> {
    Listener l = listener;
    if (l != null && c != null && c.equals(conn)) {
      l.agent(uuidOf(dom), nameOf(dom), state == AGENT_CONNECTED, reason);
    }
  };
  private final GenericCallback reboot = (c, dom, opaque) -> {
    Listener l = listener;
    if (l != null && c != null && c.equals(conn)) {
      l.reboot(uuidOf(dom), nameOf(dom));
    }
  };
  private final DeviceCallback device = (c, dom, alias, opaque) -> {
    Listener l = listener;
    if (l != null && c != null && c.equals(conn)) {
      l.devices(uuidOf(dom), nameOf(dom));
    }
  };
  private final CloseCallback closed = (c, reason, opaque) -> {
    String why = switch (reason) {
      case 1 -> "end of file from libvirtd";
      case 2 -> "libvirtd stopped answering keepalives";
      case 3 -> "closed by the client";
      default -> "connection error";
    };
    Listener l = listener;
    if (l != null && ours(c)) {
      l.closed(why);
    }
    if (c != null && c.equals(conn)) {
      // libvirtd is gone or hung (keepalive): the calls outside the loop would wait for it.
      // After the notice above, so the lanes' own end of file is not taken for the reason.
      for (Lane lane : lanes) {
        lane.hangUp(why);
      }
    }
  };

  public JnaHypervisor(String uri) {
    this(uri, 1);
  }

  /** @param connections how many connections calls are spread over (events have one more) */
  public JnaHypervisor(String uri, int connections) {
    Libraries libs = load();
    this.uri = uri;
    this.virt = libs.virt();
    this.qemu = libs.qemu();
    this.events = libs.events();
    this.laneCount = Math.max(1, connections);
  }

  /**
   * Loads libvirt once per JVM and starts its event loop; throws {@link UnsatisfiedLinkError}
   * (or JNA's own linkage errors) where libvirt0 is not installed.
   */
  public static synchronized void loadLibrary() {
    load();
  }

  /** Whether libvirt's library loads here; the reason when not, else null. */
  public static synchronized String unavailableReason() {
    try {
      load();
      return null;
    } catch (Throwable e) {
      return e.getClass().getSimpleName() + ": " + e.getMessage();
    }
  }

  private static synchronized Libraries load() {
    if (libraries != null) {
      return libraries;
    }
    if (loadFailure != null) {
      throw new UnsatisfiedLinkError("libvirt could not be loaded: " + loadFailure.getMessage());
    }
    try {
      Virt virt = loadOne(Virt.class, "virt", "libvirt.so.0");
      VirtQemu qemu = loadOne(VirtQemu.class, "virt-qemu", "libvirt-qemu.so.0");
      if (virt.virInitialize() < 0) {
        throw new UnsatisfiedLinkError("virInitialize failed");
      }
      virt.virSetErrorFunc(null, SILENT);
      LibvirtEventLoop events = new LibvirtEventLoop();
      virt.virEventRegisterImpl(events.addHandle, events.updateHandle, events.removeHandle,
          events.addTimeout, events.updateTimeout, events.removeTimeout);
      events.start("libvirt-events");
      libraries = new Libraries(virt, qemu, events);
      return libraries;
    } catch (Throwable e) {
      loadFailure = e;
      throw e instanceof Error err ? err : new UnsatisfiedLinkError(e.toString());
    }
  }

  private static <T extends Library> T loadOne(Class<T> type, String name, String soname) {
    try {
      return Native.load(name, type, OPTIONS);
    } catch (UnsatisfiedLinkError first) {
      // Debian's libvirt0 ships only the versioned name; libvirt-dev adds the plain one
      return Native.load(soname, type, OPTIONS);
    }
  }

  @Override
  public String uri() {
    return uri;
  }

  @Override
  public void listen(Listener listener) {
    this.listener = listener;
  }

  @Override
  public synchronized void open() throws HypervisorException {
    close();
    Pointer c = virt.virConnectOpen(uri);
    if (c == null) {
      throw lastError();
    }
    conn = c;
    keepAlive(c);
    if (virt.virConnectRegisterCloseCallback(c, closed, null, null) < 0
        || !register(c, EVENT_LIFECYCLE, lifecycle)
        || !register(c, EVENT_AGENT_LIFECYCLE, agent)
        || !register(c, EVENT_REBOOT, reboot)
        || !register(c, EVENT_DEVICE_ADDED, device)
        || !register(c, EVENT_DEVICE_REMOVED, device)) {
      HypervisorException e = lastError();
      close();
      throw e;
    }
    List<Lane> opened = new ArrayList<>();
    for (int i = 0; i < laneCount; i++) {
      // no keepalive here: it needs the event loop; the event connection's notices a dead daemon
      LibvirtEventLoop.Unwatched<Pointer> calls =
          events.unwatched(() -> virt.virConnectOpen(uri));
      if (calls.value() == null) {
        HypervisorException e = lastError();
        close();
        throw e;
      }
      opened.add(new Lane(calls.value(), calls.fds()));
      lanes = opened.toArray(new Lane[0]);
      virt.virConnectRegisterCloseCallback(calls.value(), closed, null, null);
    }
  }

  private void keepAlive(Pointer c) {
    if (virt.virConnectSetKeepAlive(c, 5, 3) < 0) {
      log.debug("libvirt keepalive not set: " + virt.virGetLastErrorMessage());
    }
  }

  private boolean register(Pointer c, int eventId, Callback cb) {
    int id = virt.virConnectDomainEventRegisterAny(c, null, eventId, cb, null, null);
    if (id >= 0) {
      callbackIds.add(id);
    }
    return id >= 0;
  }

  @Override
  public synchronized void close() {
    Pointer c = conn;
    conn = null;
    Lane[] all = lanes;
    lanes = new Lane[0];
    for (Lane l : all) {
      l.free();
    }
    if (c != null) {
      // each registration holds a reference: without these the connection would stay open
      callbackIds.forEach(id -> virt.virConnectDomainEventDeregisterAny(c, id));
      closeConnection(c);
    }
    callbackIds.clear();
    for (Lane l : all) {
      // a call still under way on it would keep the connection, and its thread, until libvirtd
      // answers
      l.hangUp("the gateway closed the connection");
      closeConnection(l.conn);
    }
  }

  private void closeConnection(Pointer c) {
    virt.virConnectUnregisterCloseCallback(c, closed);
    virt.virConnectClose(c);
  }

  @Override
  public List<DomainInfo> activeDomains() throws HypervisorException {
    return list(LIST_ACTIVE);
  }

  @Override
  public List<DomainInfo> inactiveDomains() throws HypervisorException {
    return list(LIST_INACTIVE);
  }

  private List<DomainInfo> list(int flags) throws HypervisorException {
    Pointer c = connection();
    PointerByReference ref = new PointerByReference();
    int n = virt.virConnectListAllDomains(c, ref, flags);
    if (n < 0) {
      throw lastError();
    }
    List<DomainInfo> out = new ArrayList<>(n);
    if (n == 0) {
      return out;
    }
    Pointer array = ref.getValue();
    try {
      for (Pointer dom : array.getPointerArray(0, n)) {
        try {
          out.add(describe(dom, uuidOf(dom)));
        } catch (HypervisorException e) {
          // a domain that stopped while we listed it: the events tell the rest
          log.debug("domain vanished while listing: " + e.getMessage());
        } finally {
          virt.virDomainFree(dom);
        }
      }
    } finally {
      Native.free(Pointer.nativeValue(array));
    }
    return out;
  }

  @Override
  public DomainInfo domain(String uuid) throws HypervisorException {
    return onLane(lane -> {
      try {
        return describe(lane.handle(uuid), uuid);
      } catch (HypervisorException e) {
        if (e.code() == HypervisorException.NO_DOMAIN) {
          for (Lane l : lanes) {
            l.forget(uuid);
          }
          return null;
        }
        throw e;
      }
    });
  }

  private DomainInfo describe(Pointer dom, String uuid) throws HypervisorException {
    IntByReference state = new IntByReference();
    IntByReference reason = new IntByReference();
    if (virt.virDomainGetState(dom, state, reason, 0) < 0) {
      throw lastError();
    }
    Pointer xml = virt.virDomainGetXMLDesc(dom, 0);
    if (xml == null) {
      throw lastError();
    }
    DomainXml.AgentChannel channel;
    try {
      channel = DomainXml.agentChannel(xml.getString(0, StandardCharsets.UTF_8.name()));
    } finally {
      Native.free(Pointer.nativeValue(xml));
    }
    return new DomainInfo(uuid, nameOf(dom), DomainState.of(state.getValue()), reason.getValue(),
        channel.present(), channel.connected());
  }

  @Override
  public String agentCommand(String uuid, String json, int timeoutSeconds)
      throws HypervisorException {
    return onLane(lane -> {
      Pointer reply = qemu.virDomainQemuAgentCommand(lane.handle(uuid), json, timeoutSeconds, 0);
      if (reply == null) {
        throw lastError();
      }
      try {
        return reply.getString(0, StandardCharsets.UTF_8.name());
      } finally {
        Native.free(Pointer.nativeValue(reply));
      }
    });
  }

  @Override
  public void shutdownByAgent(String uuid) throws HypervisorException {
    onLane(lane -> {
      check(virt.virDomainShutdownFlags(lane.handle(uuid), SHUTDOWN_GUEST_AGENT));
      return null;
    });
  }

  @Override
  public void rebootByAgent(String uuid) throws HypervisorException {
    onLane(lane -> {
      check(virt.virDomainReboot(lane.handle(uuid), REBOOT_GUEST_AGENT));
      return null;
    });
  }

  @Override
  public void suspend(String uuid, SuspendTarget target) throws HypervisorException {
    onLane(lane -> {
      check(virt.virDomainPMSuspendForDuration(lane.handle(uuid), target.code, 0, 0));
      return null;
    });
  }

  @Override
  public void wakeup(String uuid) throws HypervisorException {
    onLane(lane -> {
      check(virt.virDomainPMWakeup(lane.handle(uuid), 0));
      return null;
    });
  }

  private void check(int rc) throws HypervisorException {
    if (rc < 0) {
      throw lastError();
    }
  }

  private Pointer connection() throws HypervisorException {
    Pointer c = conn;
    if (c == null) {
      throw new HypervisorException(HypervisorException.NO_CONNECT, 0,
          "not connected to " + uri);
    }
    return c;
  }

  private HypervisorException lastError() {
    return new HypervisorException(virt.virGetLastErrorCode(), virt.virGetLastErrorDomain(),
        virt.virGetLastErrorMessage());
  }

  private String uuidOf(Pointer dom) {
    byte[] buf = new byte[37];
    if (virt.virDomainGetUUIDString(dom, buf) < 0) {
      return "";
    }
    return new String(buf, 0, 36, StandardCharsets.US_ASCII);
  }

  private String nameOf(Pointer dom) {
    String name = virt.virDomainGetName(dom);
    return name == null ? "" : name;
  }
}
