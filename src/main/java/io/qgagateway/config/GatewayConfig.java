package io.qgagateway.config;

import io.qgagateway.libvirt.LibvirtOptions;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkOptions;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.transport.Transport;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The whole, validated configuration. {@link #parse} accepts exactly the keys documented in
 * docs/CONFIGURATION.md and names the first key that is wrong.
 */
public record GatewayConfig(
    String nodeName,
    List<GuestTarget> guests,
    List<Discovery> discovery,
    Http http,
    Bridge bridge,
    Cluster cluster,
    JsonObject policy,
    JsonObject timeouts,
    long autoThawMs,
    boolean thawForeign,
    long fileMaxBytes,
    LinkOptions link,
    Metrics metrics,
    boolean jsonLogging,
    Demo demo,
    long drainMs,
    VertxSettings vertx,
    LibvirtOptions libvirt,
    AuthConfig auth) {

  /** A directory scanned for agent sockets; {@code pattern} names the guest with group "name". */
  public record Discovery(String directory, Pattern pattern, long scanIntervalMs) {
  }

  /**
   * HTTP: where it listens, the bearer token, and what request bodies may hold in memory:
   * {@code maxBodyBytes} per buffered (JSON) body, {@code maxInFlightBodyBytes} for all requests
   * in flight together, {@code maxUploadBytes} per streamed file upload (never held whole);
   * {@code tls}: HTTPS, or null for plain HTTP.
   */
  public record Http(boolean enabled, String host, int port, String token, long maxBodyBytes,
                     long maxInFlightBodyBytes, long maxUploadBytes, long bodyIdleTimeoutMs,
                     TlsConfig tls) {

    public static final long DEFAULT_MAX_BODY_BYTES = 32L * 1024 * 1024;
    /** Sized for the 768 MiB pod of k8s/: see docs/KUBERNETES.md, "Memory". */
    public static final long DEFAULT_MAX_IN_FLIGHT_BODY_BYTES = 64L * 1024 * 1024;
    public static final long DEFAULT_MAX_UPLOAD_BYTES = 1024L * 1024 * 1024;
    /** A client that sends no body bytes this long is answered 408 and its share given back. */
    public static final long DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000;
    /** A streamed upload's chunk (1 MiB) and the piece that completes it must fit. */
    public static final long MIN_IN_FLIGHT_BODY_BYTES = 2L * 1024 * 1024;

    /** The defaults for everything but where to listen and the token. */
    public Http(boolean enabled, String host, int port, String token) {
      this(enabled, host, port, token, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_IN_FLIGHT_BODY_BYTES,
          DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_BODY_IDLE_TIMEOUT_MS, null);
    }
  }

  /** {@code tls}: TLS on the bridge's socket, or null for plain TCP. */
  public record Bridge(boolean enabled, String host, int port, TlsConfig tls) {

    public Bridge(boolean enabled, String host, int port) {
      this(enabled, host, port, null);
    }
  }

  /**
   * {@code eventBusPort} is where the clustered event bus listens for the other members: 0 (the
   * default) picks a free port, a fixed one lets a firewall or NetworkPolicy name it.
   *
   * @param heartbeatSeconds        Hazelcast's heartbeat interval
   * @param failureDetectionSeconds a member that sends Hazelcast no heartbeat this long is
   *                                removed from the cluster (a crashed one whose connections
   *                                close goes at once)
   * @param silentAfterMs           a member that has not answered the gateway's probe over the
   *                                event bus this long is unreachable for routing (503) until it
   *                                answers again, without leaving the cluster
   * @param unreachableRetentionMs  how long the guests of a member that left stay known as
   *                                unreachable (503) before they are forgotten (404)
   * @param minPeers                readiness needs at least this many other gateway members
   * @param listingTimeoutMs        how long {@code agent.guests} waits for each member's details
   * @param tls                     TLS with client certificates on the clustered event bus, or
   *                                null for plain TCP
   */
  public record Cluster(boolean enabled, int port, List<String> members, boolean kubernetes,
                        String serviceDns, String publicAddress, int eventBusPort,
                        int heartbeatSeconds, int failureDetectionSeconds,
                        long silentAfterMs, long unreachableRetentionMs, int minPeers,
                        long listingTimeoutMs, TlsConfig tls) {

    public static final int DEFAULT_HEARTBEAT_SECONDS = 1;
    public static final int DEFAULT_FAILURE_DETECTION_SECONDS = 10;
    public static final long DEFAULT_SILENT_AFTER_MS = 2_500;
    public static final long DEFAULT_UNREACHABLE_RETENTION_MS = 600_000;
    public static final long DEFAULT_LISTING_TIMEOUT_MS = 100;
  }

  public record Metrics(boolean enabled, boolean guestLabel) {
  }

  /**
   * The Vert.x instance: the transport of its event loops ({@code auto}: epoll, else io_uring,
   * else NIO, the order Vert.x itself prefers) and their number ({@code 0} = Vert.x's default of
   * twice the cores).
   */
  public record VertxSettings(String transport, int eventLoops) {

    public static final List<String> TRANSPORTS = List.of("auto", "io_uring", "epoll", "nio");

    /** The transport asked for; Vert.x uses NIO when a native one cannot load here. */
    public Transport pickTransport() {
      return switch (transport) {
        case "io_uring" -> Transport.IO_URING;
        case "epoll" -> Transport.EPOLL;
        case "nio" -> Transport.NIO;
        default -> Transport.EPOLL.available() ? Transport.EPOLL
            : Transport.IO_URING.available() ? Transport.IO_URING : Transport.NIO;
      };
    }

    /** Sets the event loops on {@code options}, then both options and transport on the builder. */
    public VertxBuilder applyTo(VertxBuilder builder, VertxOptions options) {
      if (eventLoops > 0) {
        options.setEventLoopPoolSize(eventLoops);
      }
      return builder.with(options).withTransport(pickTransport());
    }
  }

  /** The embedded demo: simulated agents, and a sandboxed host qemu-ga where installed. */
  public record Demo(int simulated, boolean hostAgent) {
  }

  private static final String LIBVIRT_PATTERN =
      "domain-[0-9]+-(?<name>[^/]+)/org\\.qemu\\.guest_agent\\.0";
  private static final long DAY_MS = 24L * 3600 * 1000;

  public static GatewayConfig parse(JsonObject json) {
    Section root = Section.root(json);

    Section node = root.section("node");
    String nodeName = node.string("name", null);
    node.finish();
    if (nodeName == null) {
      nodeName = hostName();
    }

    List<GuestTarget> guests = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (Section g : root.sections("guests")) {
      GuestTarget target = guest(g);
      if (!names.add(target.name())) {
        throw new ConfigException(g.key("name") + ": guest '" + target.name() + "' is listed twice");
      }
      guests.add(target);
    }

    List<Discovery> discovery = new ArrayList<>();
    for (Section d : root.sections("discovery")) {
      String directory = d.string("directory", null);
      if (directory == null || directory.isBlank()) {
        throw new ConfigException(d.key("directory") + ": required");
      }
      String regex = d.string("pattern", LIBVIRT_PATTERN);
      Pattern pattern;
      try {
        pattern = Pattern.compile(regex);
      } catch (PatternSyntaxException e) {
        throw new ConfigException(d.key("pattern") + ": not a regular expression: "
            + e.getDescription());
      }
      if (!regex.contains("(?<name>")) {
        throw new ConfigException(d.key("pattern") + ": needs a named group (?<name>...)");
      }
      discovery.add(new Discovery(directory, pattern,
          d.number("scanIntervalMs", 2000, 100, DAY_MS)));
      d.finish();
    }

    Http http = http(root.section("http"));

    Section b = root.section("bridge");
    Bridge bridge = new Bridge(b.bool("enabled", false), b.string("host", "127.0.0.1"),
        b.integer("port", 7000, 0, 65535), TlsConfig.server(b.section("tls")));
    b.finish();

    Section c = root.section("cluster");
    boolean clusterEnabled = c.bool("enabled", false);
    int clusterPort = c.integer("port", 5701, 1, 65535);
    List<String> members = c.has("members") ? c.strings("members") : List.of("127.0.0.1");
    Section k = c.section("kubernetes");
    boolean kubernetes = k.bool("enabled", false);
    String serviceDns = k.string("serviceDns", null);
    k.finish();
    if (kubernetes && (serviceDns == null || serviceDns.isBlank())) {
      throw new ConfigException("cluster.kubernetes.serviceDns: required when "
          + "cluster.kubernetes.enabled is true");
    }
    int heartbeat = c.integer("heartbeatSeconds", Cluster.DEFAULT_HEARTBEAT_SECONDS, 1, 60);
    int failureDetection = c.integer("failureDetectionSeconds",
        Cluster.DEFAULT_FAILURE_DETECTION_SECONDS, 2, 3600);
    if (failureDetection <= heartbeat) {
      throw new ConfigException(c.key("failureDetectionSeconds") + ": must be longer than "
          + "cluster.heartbeatSeconds (" + heartbeat + ")");
    }
    Cluster cluster = new Cluster(clusterEnabled, clusterPort, List.copyOf(members), kubernetes,
        serviceDns, emptyToNull(c.string("publicAddress", null)),
        c.integer("eventBusPort", 0, 0, 65535), heartbeat, failureDetection,
        c.number("silentAfterMs", Cluster.DEFAULT_SILENT_AFTER_MS, 500, 600_000),
        c.number("unreachableRetentionMs", Cluster.DEFAULT_UNREACHABLE_RETENTION_MS, 0,
            7 * DAY_MS),
        c.integer("minPeers", 0, 0, 100_000),
        c.number("listingTimeoutMs", Cluster.DEFAULT_LISTING_TIMEOUT_MS, 10, 60_000),
        TlsConfig.cluster(c.section("tls")));
    c.finish();

    JsonObject policy = root.raw("policy");
    JsonObject timeouts = root.raw("timeouts");

    Section f = root.section("freeze");
    long autoThawMs = f.number("autoThawMs", 600_000, 0, DAY_MS);
    boolean thawForeign = f.bool("thawForeign", true);
    f.finish();

    Section files = root.section("files");
    long fileMaxBytes = files.number("maxBytes", 32L * 1024 * 1024, 1, 1024L * 1024 * 1024);
    files.finish();

    LinkOptions link = linkOptions(root.section("link"));

    Section m = root.section("metrics");
    Metrics metrics = new Metrics(m.bool("enabled", true), m.bool("guestLabel", false));
    m.finish();

    Section l = root.section("logging");
    boolean jsonLogging = l.bool("json", false);
    l.finish();

    Section dm = root.section("demo");
    Demo demo = new Demo(dm.integer("simulated", 0, 0, 100_000), dm.bool("hostAgent", false));
    dm.finish();

    Section s = root.section("shutdown");
    long drainMs = s.number("drainMs", 10_000, 0, 600_000);
    s.finish();

    Section v = root.section("vertx");
    String transport = v.string("transport", "auto");
    if (!VertxSettings.TRANSPORTS.contains(transport)) {
      throw new ConfigException(v.key("transport") + ": expected one of "
          + String.join(", ", VertxSettings.TRANSPORTS) + ", got '" + transport + "'");
    }
    VertxSettings vertxSettings = new VertxSettings(transport,
        v.integer("eventLoops", 0, 0, 1024));
    v.finish();

    LibvirtOptions libvirt = libvirtOptions(root.section("libvirt"));
    AuthConfig auth = AuthConfig.parse(root.section("auth"));

    root.finish();
    return new GatewayConfig(nodeName, List.copyOf(guests), List.copyOf(discovery), http, bridge,
        cluster, policy, timeouts, autoThawMs, thawForeign, fileMaxBytes, link, metrics, jsonLogging, demo,
        drainMs, vertxSettings, libvirt, auth);
  }

  private static LibvirtOptions libvirtOptions(Section s) {
    LibvirtOptions d = LibvirtOptions.DEFAULTS;
    Object raw = s.value("enabled");
    LibvirtOptions.Mode mode;
    if (raw == null) {
      mode = d.enabled();
    } else if (raw instanceof Boolean b) {
      mode = b ? LibvirtOptions.Mode.TRUE : LibvirtOptions.Mode.FALSE;
    } else if (raw instanceof String text) {
      try {
        mode = LibvirtOptions.Mode.parse(text);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(s.key("enabled") + ": " + e.getMessage());
      }
    } else {
      throw new ConfigException(s.key("enabled") + ": expected auto, true or false");
    }
    String uri = s.string("uri", d.uri());
    if (uri.isBlank()) {
      throw new ConfigException(s.key("uri") + ": must not be empty");
    }
    LibvirtOptions options = new LibvirtOptions(mode, uri,
        s.integer("workers", d.workers(), 1, 1024),
        s.integer("connections", d.connections(), 1, 64),
        s.number("keepStoppedMs", d.keepStoppedMs(), 0, DAY_MS));
    s.finish();
    return options;
  }

  private static Http http(Section h) {
    long tib = 1024L * 1024 * 1024 * 1024;
    Http http = new Http(h.bool("enabled", true), h.string("host", "127.0.0.1"),
        h.integer("port", 8080, 0, 65535), emptyToNull(h.string("token", null)),
        h.number("maxBodyBytes", Http.DEFAULT_MAX_BODY_BYTES, 1024, 1024L * 1024 * 1024),
        h.number("maxInFlightBodyBytes", Http.DEFAULT_MAX_IN_FLIGHT_BODY_BYTES,
            Http.MIN_IN_FLIGHT_BODY_BYTES, 64 * 1024L * 1024 * 1024),
        h.number("maxUploadBytes", Http.DEFAULT_MAX_UPLOAD_BYTES, 1, tib),
        h.number("bodyIdleTimeoutMs", Http.DEFAULT_BODY_IDLE_TIMEOUT_MS, 100, DAY_MS),
        TlsConfig.server(h.section("tls")));
    h.finish();
    if (http.maxInFlightBodyBytes() < http.maxBodyBytes()) {
      throw new ConfigException(h.key("maxInFlightBodyBytes") + ": must be at least "
          + h.key("maxBodyBytes") + " (" + http.maxBodyBytes() + "), or no body of that size "
          + "could ever be read");
    }
    return http;
  }

  private static GuestTarget guest(Section g) {
    String name = g.string("name", null);
    String socket = g.string("socket", null);
    String tcp = g.string("tcp", null);
    String qmp = g.string("qmp", null);
    long releaseIdleMs = g.number("releaseIdleMs", 0, 0, DAY_MS);
    g.finish();
    if (name == null) {
      throw new ConfigException(g.key("name") + ": required");
    }
    if (!GuestTarget.validName(name)) {
      throw new ConfigException(g.key("name") + ": '" + name
          + "' is not a valid guest name ([A-Za-z0-9][A-Za-z0-9._-]{0,127})");
    }
    if ((socket == null) == (tcp == null)) {
      throw new ConfigException(g.key("socket") + ": give exactly one of socket or tcp for guest '"
          + name + "'");
    }
    GuestTarget target;
    try {
      target = socket != null ? GuestTarget.unix(name, socket) : GuestTarget.tcp(name, tcp);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(g.key("tcp") + ": " + e.getMessage());
    }
    try {
      target = target.sharedAfterIdle(releaseIdleMs);
      return qmp == null ? target : target.withQmp(qmp);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(g.key("qmp") + ": " + e.getMessage()
          + " (a Unix socket path, or host:port)");
    }
  }

  private static LinkOptions linkOptions(Section s) {
    LinkOptions d = LinkOptions.DEFAULTS;
    LinkOptions options;
    try {
      options = new LinkOptions(
          s.integer("maxReplyBytes", d.maxReplyBytes(), 1024, Integer.MAX_VALUE - 8),
          s.integer("queueSize", d.queueSize(), 1, 1_000_000),
          s.number("syncTimeoutMs", d.syncTimeoutMs(), 1, DAY_MS),
          s.integer("syncAttempts", d.syncAttempts(), 1, 1000),
          s.number("reconnectInitialMs", d.reconnectInitialMs(), 1, DAY_MS),
          s.number("reconnectMaxMs", d.reconnectMaxMs(), 1, DAY_MS),
          s.number("noResponseGraceMs", d.noResponseGraceMs(), 0, DAY_MS),
          s.number("infoTimeoutMs", d.infoTimeoutMs(), 1, DAY_MS),
          s.number("probeAfterMs", d.probeAfterMs(), 0, DAY_MS));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
    s.finish();
    return options;
  }

  private static String emptyToNull(String value) {
    return value == null || value.isEmpty() ? null : value;
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }
}
