package io.qgagateway.libvirt;

import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.link.GuestTarget;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Decides at start-up whether this is a libvirt host and which backends serve it, and refuses
 * any configuration that would open an agent socket libvirt owns: libvirtd is the client of every
 * channel in its channel directory, QEMU serves one client at a time, so a second client gets no
 * answers and, once libvirt reconnects, locks libvirt out.
 *
 * <p>A libvirt host is one where the daemon's socket for the configured URI exists
 * ({@code /run/libvirt/libvirt-sock} for the monolithic daemon, {@code virtqemud-sock} for the
 * modular one, or the URI's {@code ?socket=}); for a remote URI, {@code libvirt.enabled: true}
 * says so.
 */
public final class LibvirtPresence {

  /** Where libvirt keeps the agent sockets of its QEMU domains (system and older layouts). */
  public static final List<Path> CHANNEL_DIRECTORIES = List.of(
      Path.of("/var/lib/libvirt/qemu/channel"),
      Path.of("/run/libvirt/qemu/channel"),
      Path.of("/var/run/libvirt/qemu/channel"));

  private static final List<Path> SYSTEM_SOCKETS = List.of(
      Path.of("/run/libvirt/virtqemud-sock"),
      Path.of("/run/libvirt/libvirt-sock"),
      Path.of("/var/run/libvirt/virtqemud-sock"),
      Path.of("/var/run/libvirt/libvirt-sock"));

  /**
   * What was found.
   *
   * @param daemonSocket the daemon's socket found for the URI, or null
   * @param libraryProblem why libvirt0 does not load, or null when it does
   * @param useLibvirt     the libvirt backend serves this host's domains
   */
  public record Decision(String uri, String daemonSocket, String libraryProblem,
                         boolean useLibvirt) {

    /** libvirt's daemon runs here (so its channel directory is off limits). */
    public boolean libvirtHost() {
      return daemonSocket != null || useLibvirt;
    }
  }

  private LibvirtPresence() {
  }

  /** Looks at this machine; throws {@link ConfigException} where it cannot serve it safely. */
  public static Decision decide(GatewayConfig config) {
    return decide(config, LibvirtPresence::daemonSocket, JnaHypervisor::unavailableReason);
  }

  /**
   * @param sockets finds the daemon's socket for a URI (null when absent)
   * @param library why libvirt0 does not load, or null
   */
  public static Decision decide(GatewayConfig config,
                                java.util.function.Function<String, String> sockets,
                                Supplier<String> library) {
    LibvirtOptions o = config.libvirt();
    String socket = sockets.apply(o.uri());
    Decision d;
    switch (o.enabled()) {
      case FALSE -> d = new Decision(o.uri(), socket, null, false);
      case TRUE -> {
        String problem = library.get();
        if (problem != null) {
          throw new ConfigException("libvirt.enabled: true, but libvirt's library does not load ("
              + problem + "): install libvirt0 (Debian, Ubuntu) or libvirt-libs (Fedora, RHEL)");
        }
        d = new Decision(o.uri(), socket, null, true);
      }
      default -> {
        if (socket == null) {
          d = new Decision(o.uri(), null, null, false);
        } else {
          String problem = library.get();
          if (problem != null) {
            throw new ConfigException("libvirtd runs here (" + socket + ") and owns the agent "
                + "channels of its domains, but libvirt's library does not load (" + problem
                + "): install libvirt0 (Debian, Ubuntu) or libvirt-libs (Fedora, RHEL) so the "
                + "gateway can reach the domains through libvirt, or set libvirt.enabled: false "
                + "to serve only guests whose sockets libvirt does not own");
          }
          d = new Decision(o.uri(), socket, null, true);
        }
      }
    }
    if (d.libvirtHost()) {
      refuseOwnedSockets(config, d);
    }
    return d;
  }

  /** Static guests and discovery directories inside libvirt's channel directory are refused. */
  public static void refuseOwnedSockets(GatewayConfig config, Decision d) {
    String who = d.daemonSocket() != null ? "libvirtd (" + d.daemonSocket() + ")" : "libvirt";
    for (int i = 0; i < config.discovery().size(); i++) {
      GatewayConfig.Discovery discovery = config.discovery().get(i);
      Path dir = normalize(discovery.directory());
      if (overlapsChannelDirectory(dir)) {
        throw new ConfigException("discovery[" + i + "].directory: " + discovery.directory()
            + " is libvirt's agent channel directory, and " + who + " is the client of every "
            + "agent socket in it. QEMU serves one client at a time: the gateway would get no "
            + "answers and lock libvirt out. Remove this discovery entry: with libvirt.enabled: "
            + (d.useLibvirt() ? "auto (in use now)" : "auto or true")
            + " the gateway serves these domains through libvirt, beside virsh");
      }
    }
    List<GuestTarget> guests = config.guests();
    for (int i = 0; i < guests.size(); i++) {
      GuestTarget g = guests.get(i);
      if (g.transport() == GuestTarget.Transport.UNIX
          && insideChannelDirectory(normalize(g.address()))) {
        throw new ConfigException("guests[" + i + "].socket: " + g.address() + " is an agent "
            + "socket that " + who + " owns (QEMU serves one client at a time, so the gateway "
            + "would lock libvirt out). Remove guest '" + g.name() + "' from guests: the "
            + "gateway serves libvirt's domains through libvirt");
      }
    }
  }

  static boolean overlapsChannelDirectory(Path dir) {
    for (Path channel : CHANNEL_DIRECTORIES) {
      if (dir.startsWith(channel) || channel.startsWith(dir)) {
        return true;
      }
    }
    return false;
  }

  static boolean insideChannelDirectory(Path path) {
    for (Path channel : CHANNEL_DIRECTORIES) {
      if (path.startsWith(channel)) {
        return true;
      }
    }
    return false;
  }

  private static Path normalize(String path) {
    Path p = Path.of(path).toAbsolutePath().normalize();
    try {
      return Files.exists(p) ? p.toRealPath() : p;
    } catch (IOException e) {
      return p;
    }
  }

  /** The daemon's socket for {@code uri} on this machine, or null. */
  public static String daemonSocket(String uri) {
    URI parsed;
    try {
      parsed = new URI(uri);
    } catch (URISyntaxException e) {
      return null;
    }
    String query = parsed.getRawQuery();
    if (query != null) {
      for (String param : query.split("&")) {
        if (param.startsWith("socket=")) {
          String path = param.substring("socket=".length());
          return Files.exists(Path.of(path)) ? path : null;
        }
      }
    }
    String scheme = parsed.getScheme();
    boolean local = scheme != null && !scheme.contains("+") && parsed.getHost() == null;
    if (!local || !"/system".equals(parsed.getPath())) {
      return null;
    }
    List<Path> candidates = new ArrayList<>(SYSTEM_SOCKETS);
    for (Path p : candidates) {
      if (Files.exists(p)) {
        return p.toString();
      }
    }
    return null;
  }
}
