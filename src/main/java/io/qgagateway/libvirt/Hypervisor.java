package io.qgagateway.libvirt;

import java.util.List;

/**
 * What the gateway needs of libvirt, as plain Java: one connection, its domains, their agent, and
 * the events that keep the picture current. Every method but {@link #listen} blocks on an RPC to
 * the daemon: call them from a worker thread, never from an event loop. Failures are {@link
 * HypervisorException}s carrying libvirt's error code.
 */
public interface Hypervisor {

  /** The connection URI, e.g. {@code qemu:///system}. */
  String uri();

  /** Opens (or reopens) the connection; events registered with {@link #listen} follow it. */
  void open() throws HypervisorException;

  /** Closes the connection; no more events. */
  void close();

  /** The active domains (running, paused, suspended, shutting down). */
  List<DomainInfo> activeDomains() throws HypervisorException;

  /** The defined domains that are shut off, described by their persistent definition. */
  List<DomainInfo> inactiveDomains() throws HypervisorException;

  /** One domain by UUID, or null when libvirt no longer knows it. */
  DomainInfo domain(String uuid) throws HypervisorException;

  /**
   * {@code virDomainQemuAgentCommand}: the agent's reply as JSON text ({@code {"return": ...}}).
   *
   * @param timeoutSeconds libvirt's wait for the reply, at least 1
   */
  String agentCommand(String uuid, String json, int timeoutSeconds) throws HypervisorException;

  /** {@code virDomainShutdownFlags(GUEST_AGENT)}: guest-shutdown powerdown through libvirt. */
  void shutdownByAgent(String uuid) throws HypervisorException;

  /** {@code virDomainReboot(GUEST_AGENT)}: guest-shutdown reboot through libvirt. */
  void rebootByAgent(String uuid) throws HypervisorException;

  /**
   * {@code virDomainPMSuspendForDuration}: the guest-suspend-* command through libvirt, which
   * first checks that the domain can be woken (QEMU's {@code wakeup-suspend-support}).
   */
  void suspend(String uuid, SuspendTarget target) throws HypervisorException;

  /** {@code virDomainPMWakeup}. */
  void wakeup(String uuid) throws HypervisorException;

  /** Where events go; set before {@link #open}. Called on libvirt's event thread. */
  void listen(Listener listener);

  enum SuspendTarget {
    MEM(0), DISK(1), HYBRID(2);

    public final int code;

    SuspendTarget(int code) {
      this.code = code;
    }
  }

  /** libvirt's {@code virDomainState}, by its code. */
  enum DomainState {
    NOSTATE("nostate"), RUNNING("running"), BLOCKED("blocked"), PAUSED("paused"),
    SHUTDOWN("shutdown"), SHUTOFF("shutoff"), CRASHED("crashed"), PMSUSPENDED("pmsuspended");

    private final String label;

    DomainState(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }

    /** Whether the agent can be reached at all: running (or blocked on I/O). */
    public boolean running() {
      return this == RUNNING || this == BLOCKED;
    }

    /** QEMU is up: the domain is listed by libvirt as active. */
    public boolean active() {
      return this != SHUTOFF && this != NOSTATE;
    }

    public static DomainState of(int code) {
      DomainState[] all = values();
      return code >= 0 && code < all.length ? all[code] : NOSTATE;
    }
  }

  /**
   * A domain as libvirt describes it.
   *
   * @param agentChannel   the domain defines an {@code org.qemu.guest_agent.0} channel
   * @param agentConnected the agent has the channel open (libvirt's channel {@code state})
   */
  record DomainInfo(String uuid, String name, DomainState state, int reason,
                    boolean agentChannel, boolean agentConnected) {
  }

  /** libvirt's events, as they come; on libvirt's event thread, so return quickly. */
  interface Listener {

    /** {@code VIR_DOMAIN_EVENT_ID_LIFECYCLE}: {@code event} and {@code detail} as libvirt's. */
    void lifecycle(String uuid, String name, int event, int detail);

    /** {@code VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE}. */
    void agent(String uuid, String name, boolean connected, int reason);

    /** {@code VIR_DOMAIN_EVENT_ID_REBOOT}. */
    void reboot(String uuid, String name);

    /**
     * {@code VIR_DOMAIN_EVENT_ID_DEVICE_ADDED} or {@code _REMOVED}: a device was plugged into or
     * out of a running domain (an agent channel among them, perhaps).
     */
    void devices(String uuid, String name);

    /** The connection closed (daemon restart, keepalive, error). */
    void closed(String reason);
  }

  /** Lifecycle event types ({@code virDomainEventType}). */
  final class Events {
    public static final int DEFINED = 0;
    public static final int UNDEFINED = 1;
    public static final int STARTED = 2;
    public static final int SUSPENDED = 3;
    public static final int RESUMED = 4;
    public static final int STOPPED = 5;
    public static final int SHUTDOWN = 6;
    public static final int PMSUSPENDED = 7;
    public static final int CRASHED = 8;

    private Events() {
    }
  }
}
