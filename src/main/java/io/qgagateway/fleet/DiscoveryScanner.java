package io.qgagateway.fleet;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.link.GuestTarget;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.regex.Matcher;

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
    String prefix = root.toString().endsWith("/") ? root.toString() : root + "/";
    try {
      Files.walkFileTree(root, EnumSet.noneOf(FileVisitOption.class), MAX_DEPTH,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path p, BasicFileAttributes attrs) {
              // a socket is "other" (neither file, directory nor link): the attributes the walk
              // read already say so, where three more stat calls per entry would (10,000 guests)
              if (attrs.isOther()) {
                match(spec, prefix, p, found);
              }
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path p, IOException e) throws IOException {
              // a domain directory vanishing mid-walk is normal when a VM stops; the next scan
              // is right. Anything else (no permission) fails the scan, as it did
              if (e instanceof NoSuchFileException) {
                return FileVisitResult.CONTINUE;
              }
              throw e;
            }
          });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return found;
  }

  /** @param prefix the root and a separator: every path the walk visits starts with it */
  private static void match(GatewayConfig.Discovery spec, String prefix, Path p,
                            List<GuestTarget> found) {
    // a substring, not Path.relativize, which costs more than the rest of a scan together
    String path = p.toString();
    Matcher m = spec.pattern().matcher(path.substring(prefix.length()));
    if (m.matches()) {
      String name = m.group("name");
      if (name != null && GuestTarget.validName(name)) {
        found.add(GuestTarget.unix(name, path));
      }
    }
  }
}
