package io.qgagateway.fleet;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.link.GuestTarget;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.stream.Stream;

/**
 * Finds agent sockets below a directory, e.g. libvirt's channel directory, where each running
 * domain has {@code domain-<id>-<name>/org.qemu.guest_agent.0}. Blocking file I/O: call it from
 * a worker.
 */
public final class DiscoveryScanner {

  /** Deep enough for libvirt's layout and most hand-made ones, shallow enough to stay cheap. */
  private static final int MAX_DEPTH = 4;

  private DiscoveryScanner() {
  }

  public static List<GuestTarget> scan(GatewayConfig.Discovery spec) {
    Path root = Path.of(spec.directory());
    List<GuestTarget> found = new ArrayList<>();
    if (!Files.isDirectory(root)) {
      return found;
    }
    try (Stream<Path> paths = Files.walk(root, MAX_DEPTH)) {
      paths.filter(DiscoveryScanner::isSocketLike).forEach(p -> {
        String relative = root.relativize(p).toString().replace('\\', '/');
        Matcher m = spec.pattern().matcher(relative);
        if (m.matches()) {
          String name = m.group("name");
          if (name != null && GuestTarget.validName(name)) {
            found.add(GuestTarget.unix(name, p.toString()));
          }
        }
      });
    } catch (UncheckedIOException e) {
      // a domain directory vanishing mid-walk is normal when a VM stops; the next scan is right
      if (!(e.getCause() instanceof NoSuchFileException)) {
        throw e;
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return found;
  }

  /** Sockets are neither regular files nor directories; Java has no direct test for them. */
  private static boolean isSocketLike(Path p) {
    return !Files.isDirectory(p) && !Files.isRegularFile(p) && !Files.isSymbolicLink(p);
  }
}
