package io.qgagateway.link;

import io.vertx.core.net.SocketAddress;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A guest and where its agent is: a Unix socket path or a TCP host:port the gateway connects to
 * itself (for a QEMU started without libvirt, optionally with where its QMP monitor is: {@code
 * qmp}, a Unix socket path or host:port, which gives the gateway the hypervisor's view), or a
 * libvirt domain ({@code URI#UUID}) whose agent channel libvirt owns and lends per call.
 * {@code releaseIdleMs}: after that long without commands an idle socket is released for other
 * clients (0: never).
 */
public record GuestTarget(String name, Transport transport, String address, String qmp,
                          long releaseIdleMs) {

  public enum Transport {
    UNIX("unix"), TCP("tcp"), LIBVIRT("libvirt");

    private final String label;

    Transport(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  /** API.md: {@code [A-Za-z0-9][A-Za-z0-9._-]{0,127}}. */
  public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  /** Whether {@code name} matches {@link #NAME}; checked on every request, so without a regex. */
  public static boolean validName(String name) {
    int n = name.length();
    if (n == 0 || n > 128) {
      return false;
    }
    for (int i = 0; i < n; i++) {
      char c = name.charAt(i);
      boolean alnum = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9';
      if (!alnum && (i == 0 || c != '.' && c != '_' && c != '-')) {
        return false;
      }
    }
    return true;
  }

  public GuestTarget(String name, Transport transport, String address) {
    this(name, transport, address, null, 0);
  }

  public GuestTarget {
    if (releaseIdleMs < 0) {
      throw new IllegalArgumentException("releaseIdleMs must not be negative");
    }
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(transport, "transport");
    Objects.requireNonNull(address, "address");
    if (!validName(name)) {
      throw new IllegalArgumentException("invalid guest name '" + name + "'");
    }
    if (transport == Transport.TCP) {
      parseHostPort(address);
    }
    if (qmp != null && !qmp.contains("/")) {
      parseHostPort(qmp);
    }
  }

  /** This guest with its QMP monitor at {@code qmp} (a socket path or host:port). */
  public GuestTarget withQmp(String qmp) {
    return new GuestTarget(name, transport, address, qmp, releaseIdleMs);
  }

  /**
   * This guest shared politely: the socket is released after {@code ms} without commands, so
   * other tools that connect for one command get their turn; 0 keeps it.
   */
  public GuestTarget sharedAfterIdle(long ms) {
    return new GuestTarget(name, transport, address, qmp, ms);
  }

  /** Where the QMP monitor is, or null without one. */
  public SocketAddress qmpAddress() {
    if (qmp == null) {
      return null;
    }
    if (qmp.contains("/")) {
      return SocketAddress.domainSocketAddress(qmp);
    }
    HostPort hp = parseHostPort(qmp);
    return SocketAddress.inetSocketAddress(hp.port(), hp.host());
  }

  public static GuestTarget unix(String name, String path) {
    return new GuestTarget(name, Transport.UNIX, path);
  }

  public static GuestTarget tcp(String name, String hostPort) {
    return new GuestTarget(name, Transport.TCP, hostPort);
  }

  /** A libvirt domain: {@code address} is {@code URI#UUID}, e.g. {@code qemu:///system#5c1e...}. */
  public static GuestTarget libvirt(String name, String uri, String uuid) {
    return new GuestTarget(name, Transport.LIBVIRT, uri + "#" + uuid);
  }

  /** The domain's UUID of a {@link Transport#LIBVIRT} target. */
  public String domainUuid() {
    int hash = address.lastIndexOf('#');
    return hash < 0 ? address : address.substring(hash + 1);
  }

  public SocketAddress socketAddress() {
    if (transport == Transport.LIBVIRT) {
      throw new IllegalStateException("guest " + name + " is reached through libvirt, not a socket");
    }
    if (transport == Transport.UNIX) {
      return SocketAddress.domainSocketAddress(address);
    }
    HostPort hp = parseHostPort(address);
    return SocketAddress.inetSocketAddress(hp.port(), hp.host());
  }

  private record HostPort(String host, int port) {
  }

  /** {@code host:port} or {@code [v6]:port}. */
  private static HostPort parseHostPort(String value) {
    int colon = value.lastIndexOf(':');
    if (colon <= 0 || colon == value.length() - 1) {
      throw new IllegalArgumentException("tcp address must be host:port, got '" + value + "'");
    }
    String host = value.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    if (host.isBlank()) {
      throw new IllegalArgumentException("tcp address has no host: '" + value + "'");
    }
    int port;
    try {
      port = Integer.parseInt(value.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("tcp port must be a number, got '" + value + "'");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("tcp port out of range in '" + value + "'");
    }
    return new HostPort(host, port);
  }
}
