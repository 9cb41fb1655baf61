package io.qgagateway.testing;

import io.qgagateway.libvirt.Hypervisor;
import io.qgagateway.libvirt.HypervisorException;
import io.vertx.core.json.JsonObject;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * libvirt as the libvirt backend sees it, in memory: domains with a state and an agent, the
 * events of their changes, and agent commands answered by a pluggable {@link Agent} (by default
 * a simulated agent on a Unix socket, held open like libvirtd holds its channel). Blocking calls
 * behave like libvirt's: they fail with libvirt's codes and messages.
 */
public final class FakeHypervisor implements Hypervisor {

  /** Answers one agent command of a domain, as libvirt would return it or fail. */
  @FunctionalInterface
  public interface Agent {
    String call(String json, int timeoutSeconds) throws HypervisorException;
  }

  public static final class Domain {
    public final String uuid = UUID.randomUUID().toString();
    public final String name;
    public volatile DomainState state;
    public volatile boolean agentChannel = true;
    public volatile boolean agentConnected;
    public volatile Agent agent;
    public volatile boolean suspendSupported = true;
    public final List<String> commands = new CopyOnWriteArrayList<>();
    final AtomicInteger concurrent = new AtomicInteger();
    public final AtomicInteger maxConcurrent = new AtomicInteger();

    Domain(String name, DomainState state) {
      this.name = name;
      this.state = state;
    }
  }

  private final String uri;
  private final Map<String, Domain> domains = new ConcurrentHashMap<>();
  private volatile Listener listener;
  private volatile boolean open;
  private volatile boolean refuseOpen;
  public final AtomicInteger opens = new AtomicInteger();
  /** What guest-shutdown, reboot, suspend and wake-up do after they return; events by default. */
  public volatile boolean followThrough = true;
  public volatile long followThroughMs = 50;

  public FakeHypervisor() {
    this("test:///fake");
  }

  public FakeHypervisor(String uri) {
    this.uri = uri;
  }

  /** A domain; running ones have their agent connected. */
  public Domain add(String name, DomainState state, Agent agent) {
    Domain d = new Domain(name, state);
    d.agent = agent;
    d.agentConnected = state.running();
    domains.put(d.uuid, d);
    return d;
  }

  public Domain domainNamed(String name) {
    return domains.values().stream().filter(d -> d.name.equals(name)).findFirst().orElseThrow();
  }

  // ---- what happens on the host: state changes with their events -------------------------------

  public void start(Domain d) {
    d.state = DomainState.RUNNING;
    d.agentConnected = false;
    emitLifecycle(d, Events.STARTED, 0);
  }

  public void agent(Domain d, boolean connected) {
    d.agentConnected = connected;
    Listener l = listener;
    if (l != null && open) {
      l.agent(d.uuid, d.name, connected, 2);
    }
  }

  /** A guest-agent channel plugged into (or out of) a running domain: libvirt's device event. */
  public void agentChannel(Domain d, boolean present) {
    d.agentChannel = present;
    d.agentConnected = false;
    Listener l = listener;
    if (l != null && open) {
      l.devices(d.uuid, d.name);
    }
  }

  public void stop(Domain d, int detail) {
    d.state = DomainState.SHUTOFF;
    d.agentConnected = false;
    emitLifecycle(d, Events.STOPPED, detail);
  }

  public void pause(Domain d) {
    d.state = DomainState.PAUSED;
    emitLifecycle(d, Events.SUSPENDED, 0);
  }

  public void resume(Domain d) {
    d.state = DomainState.RUNNING;
    emitLifecycle(d, Events.RESUMED, 0);
  }

  /** A transient domain stops: libvirt forgets it, with no UNDEFINED event. */
  public void stopTransient(Domain d) {
    domains.remove(d.uuid);
    stop(d, 0);
  }

  /** {@code virsh define}: a new shut-off domain, and its event. */
  public Domain define(String name) {
    Domain d = add(name, DomainState.SHUTOFF, pong());
    emitLifecycle(d, Events.DEFINED, 0);
    return d;
  }

  public void undefine(Domain d) {
    domains.remove(d.uuid);
    emitLifecycle(d, Events.UNDEFINED, 0);
  }

  /** The daemon goes away: the connection closes and opening fails until {@link #restart}. */
  public void crashDaemon() {
    refuseOpen = true;
    open = false;
    Listener l = listener;
    if (l != null) {
      l.closed("end of file from libvirtd");
    }
  }

  public void restart() {
    refuseOpen = false;
  }

  public void emitLifecycle(Domain d, int event, int detail) {
    Listener l = listener;
    if (l != null && open) {
      l.lifecycle(d.uuid, d.name, event, detail);
    }
  }

  // ---- Hypervisor ----------------------------------------------------------------------------

  @Override
  public String uri() {
    return uri;
  }

  @Override
  public void open() throws HypervisorException {
    opens.incrementAndGet();
    if (refuseOpen) {
      throw new HypervisorException(HypervisorException.SYSTEM_ERROR, 7,
          "Failed to connect socket to '/run/libvirt/libvirt-sock': Connection refused");
    }
    open = true;
  }

  @Override
  public void close() {
    open = false;
  }

  @Override
  public List<DomainInfo> activeDomains() throws HypervisorException {
    return list(true);
  }

  @Override
  public List<DomainInfo> inactiveDomains() throws HypervisorException {
    return list(false);
  }

  private List<DomainInfo> list(boolean active) throws HypervisorException {
    connected();
    List<DomainInfo> out = new ArrayList<>();
    for (Domain d : domains.values()) {
      if (d.state.active() == active) {
        out.add(info(d));
      }
    }
    return out;
  }

  @Override
  public DomainInfo domain(String uuid) throws HypervisorException {
    connected();
    Domain d = domains.get(uuid);
    return d == null ? null : info(d);
  }

  private static DomainInfo info(Domain d) {
    return new DomainInfo(d.uuid, d.name, d.state, 0, d.agentChannel,
        d.agentChannel && d.agentConnected);
  }

  @Override
  public String agentCommand(String uuid, String json, int timeoutSeconds)
      throws HypervisorException {
    Domain d = running(uuid);
    if (!d.agentConnected) {
      throw new HypervisorException(HypervisorException.AGENT_UNRESPONSIVE, 10,
          "Guest agent is not responding: QEMU guest agent is not connected");
    }
    d.commands.add(new JsonObject(json).getString("execute"));
    int now = d.concurrent.incrementAndGet();
    d.maxConcurrent.accumulateAndGet(now, Math::max);
    try {
      return d.agent.call(json, timeoutSeconds);
    } finally {
      d.concurrent.decrementAndGet();
    }
  }

  @Override
  public void shutdownByAgent(String uuid) throws HypervisorException {
    Domain d = agentReady(uuid, "guest-shutdown");
    later(() -> {
      d.state = DomainState.SHUTDOWN;
      emitLifecycle(d, Events.SHUTDOWN, 1);
      stop(d, 0);
    });
  }

  @Override
  public void rebootByAgent(String uuid) throws HypervisorException {
    Domain d = agentReady(uuid, "guest-shutdown reboot");
    later(() -> {
      d.agentConnected = false;
      Listener l = listener;
      if (l != null) {
        l.reboot(d.uuid, d.name);
      }
    });
  }

  @Override
  public void suspend(String uuid, SuspendTarget target) throws HypervisorException {
    Domain d = agentReady(uuid, "guest-suspend-" + target.name().toLowerCase());
    if (target != SuspendTarget.DISK && !d.suspendSupported) {
      throw new HypervisorException(HypervisorException.OPERATION_UNSUPPORTED, 10,
          "Operation not supported: Domain does not have suspend support");
    }
    later(() -> {
      d.state = DomainState.PMSUSPENDED;
      d.agentConnected = false;
      agent(d, false);
      emitLifecycle(d, Events.PMSUSPENDED, 0);
    });
  }

  @Override
  public void wakeup(String uuid) throws HypervisorException {
    Domain d = domains.get(uuid);
    if (d == null || d.state != DomainState.PMSUSPENDED) {
      throw new HypervisorException(HypervisorException.OPERATION_INVALID, 10,
          "Requested operation is not valid: Unable to wake up domain which is not suspended");
    }
    d.commands.add("wakeup");
    later(() -> {
      d.state = DomainState.RUNNING;
      emitLifecycle(d, Events.STARTED, 3);
      agent(d, true);
    });
  }

  @Override
  public void listen(Listener listener) {
    this.listener = listener;
  }

  private void connected() throws HypervisorException {
    if (!open) {
      throw new HypervisorException(HypervisorException.INVALID_CONN, 7,
          "invalid connection pointer");
    }
  }

  private Domain running(String uuid) throws HypervisorException {
    connected();
    Domain d = domains.get(uuid);
    if (d == null) {
      throw new HypervisorException(HypervisorException.NO_DOMAIN, 10, "Domain not found");
    }
    if (!d.state.running()) {
      throw new HypervisorException(HypervisorException.OPERATION_INVALID, 10,
          "Requested operation is not valid: domain is not running");
    }
    return d;
  }

  private Domain agentReady(String uuid, String what) throws HypervisorException {
    Domain d = running(uuid);
    if (!d.agentConnected) {
      throw new HypervisorException(HypervisorException.AGENT_UNRESPONSIVE, 10,
          "Guest agent is not responding: QEMU guest agent is not connected");
    }
    d.commands.add(what);
    return d;
  }

  private void later(Runnable r) {
    if (!followThrough) {
      return;
    }
    Thread t = new Thread(() -> {
      try {
        Thread.sleep(followThroughMs);
      } catch (InterruptedException e) {
        return;
      }
      r.run();
    }, "fake-libvirt-event");
    t.setDaemon(true);
    t.start();
  }

  // ---- agents --------------------------------------------------------------------------------

  /**
   * An agent on a Unix socket (a {@link io.qgagateway.sim.SimulatedAgent}), one connection held
   * open like libvirtd's, one command at a time; agent errors come back as libvirt reports them.
   */
  public static Agent socketAgent(Path socket) {
    return new Agent() {
      private SocketChannel channel;
      private BufferedReader reader;

      @Override
      public synchronized String call(String json, int timeoutSeconds)
          throws HypervisorException {
        String command = new JsonObject(json).getString("execute");
        try {
          if (channel == null) {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            reader = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
                StandardCharsets.UTF_8));
          }
          channel.write(ByteBuffer.wrap((json + "\n").getBytes(StandardCharsets.UTF_8)));
          JsonObject reply = new JsonObject(readLine());
          if (reply.getValue("error") instanceof JsonObject error) {
            throw new HypervisorException(HypervisorException.INTERNAL_ERROR, 10,
                "internal error: unable to execute QEMU agent command '" + command + "': "
                    + error.getString("desc"));
          }
          return reply.encode();
        } catch (IOException e) {
          channel = null;
          throw new HypervisorException(HypervisorException.AGENT_UNRESPONSIVE, 10,
              "Guest agent is not responding: Guest agent disappeared while executing command");
        }
      }

      private String readLine() throws IOException {
        String line;
        do {
          line = reader.readLine();
          if (line == null) {
            throw new IOException("EOF");
          }
        } while (line.isBlank());
        return line;
      }
    };
  }

  /** An agent that answers every command with {@code {"return": {}}}. */
  public static Agent pong() {
    return (json, timeout) -> "{\"return\":{}}";
  }
}
