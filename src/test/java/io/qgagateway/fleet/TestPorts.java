package io.qgagateway.fleet;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for members a test starts. Taken below the kernel's ephemeral range (32768-60999 on
 * Linux): a port the kernel handed out for {@code bind(0)} is free again once the probe closes
 * it, and the next outgoing connection or port-0 listener (Hazelcast, the event bus) may take
 * it before the member binds it.
 */
final class TestPorts {

  private static final int LOW = 20_000;
  private static final int HIGH = 32_000;

  private TestPorts() {
  }

  /** A loopback port that is free now, with the next one free too (Hazelcast may step up). */
  static int free() throws IOException {
    for (int attempt = 0; attempt < 200; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(LOW, HIGH - 1);
      if (canBind(port) && canBind(port + 1)) {
        return port;
      }
    }
    throw new IOException("no free loopback port in " + LOW + ".." + HIGH);
  }

  private static boolean canBind(int port) {
    try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
