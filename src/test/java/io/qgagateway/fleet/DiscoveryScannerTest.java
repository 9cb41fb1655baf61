package io.qgagateway.fleet;

import io.qgagateway.config.GatewayConfig;
import io.qgagateway.link.GuestTarget;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What a scan finds: real sockets only, within the depth, matched by the pattern. */
class DiscoveryScannerTest {

  @TempDir
  Path dir;

  private final List<ServerSocketChannel> sockets = new ArrayList<>();

  @AfterEach
  void close() throws IOException {
    for (ServerSocketChannel s : sockets) {
      s.close();
    }
  }

  private Path socket(Path at) throws IOException {
    Files.createDirectories(at.getParent());
    ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    s.bind(UnixDomainSocketAddress.of(at));
    sockets.add(s);
    return at;
  }

  @Test
  void findsTheSocketsOfLibvirtsLayoutAndNothingElse() throws IOException {
    Path a = socket(dir.resolve("domain-1-vm-a/org.qemu.guest_agent.0"));
    socket(dir.resolve("domain-2-vm-b/org.qemu.guest_agent.1"));
    Files.writeString(Files.createDirectories(dir.resolve("domain-3-vm-c"))
        .resolve("org.qemu.guest_agent.0"), "a regular file, not a socket");
    Files.createDirectories(dir.resolve("domain-4-vm-d"));
    Files.createSymbolicLink(dir.resolve("domain-4-vm-d/org.qemu.guest_agent.0"), a);
    Path f = socket(dir.resolve("x/domain-6-vm-f/org.qemu.guest_agent.0"));
    // deeper than the scan goes (4 levels)
    socket(dir.resolve("x/y/z/w/domain-5-vm-e/org.qemu.guest_agent.0"));

    List<GuestTarget> found = DiscoveryScanner.scan(new GatewayConfig.Discovery(dir.toString(),
        Pattern.compile("(.*/)?domain-\\d+-(?<name>[^/]+)/org\\.qemu\\.guest_agent\\.0"),
        1000));

    assertEquals(java.util.Set.of(GuestTarget.unix("vm-a", a.toString()),
        GuestTarget.unix("vm-f", f.toString())), java.util.Set.copyOf(found));
    assertEquals(2, found.size(), found.toString());
  }

  @Test
  void aDirectoryThatIsNotThereHasNoGuests() {
    assertEquals(List.of(), DiscoveryScanner.scan(new GatewayConfig.Discovery(
        dir.resolve("gone").toString(), Pattern.compile("(?<name>.+)"), 1000)));
  }
}
