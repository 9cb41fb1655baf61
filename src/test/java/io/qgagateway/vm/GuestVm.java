package io.qgagateway.vm;

import io.qgagateway.testing.GatewayHarness;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The real-VM tier's guest: the tiny guest of {@code .ci/vm/build-guest.sh} booted under QEMU TCG
 * with its qemu-ga on a virtio-serial port whose chardev is the Unix socket {@link #socket()},
 * and the script's ext4 image (a copy per VM) as a virtio-blk disk that the guest mounts at
 * {@code /mnt/data}. The guest directory is {@code -Dqga.vm.dir} (default {@code target/vm}); the
 * script is run when the directory lacks the guest or was built by another version of the
 * script. Every console line is kept with the host time it arrived ({@link #awaitConsole}), so
 * tests can time what the guest says it did (the kill hook announces itself there).
 *
 * <p>A raw client ({@link #raw}) talks to the agent while no gateway is connected: virtio-serial
 * serves one host connection at a time.
 */
final class GuestVm implements AutoCloseable {

  static final Duration BOOT = Duration.ofSeconds(120);

  /** One line of the serial console and the {@link System#nanoTime()} it arrived at. */
  record ConsoleLine(long nanos, String text) {
  }

  private final Process qemu;
  private final Path socket;
  private final Path consoleLog;
  private final List<ConsoleLine> lines = new CopyOnWriteArrayList<>();
  private final StringBuffer consoleText = new StringBuffer();
  private final Thread consoleReader;
  final long bootMillis;

  private GuestVm(Process qemu, Path socket, Path consoleLog, long startedNanos) throws Exception {
    this.qemu = qemu;
    this.socket = socket;
    this.consoleLog = consoleLog;
    this.consoleReader = new Thread(this::readConsole, "qemu-console");
    consoleReader.setDaemon(true);
    consoleReader.start();
    GatewayHarness.waitFor("QEMU's chardev socket", () -> Files.exists(socket) || !qemu.isAlive(),
        Duration.ofSeconds(30));
    assertTrue(qemu.isAlive(), () -> "QEMU exited: " + console());
    awaitAgent();
    bootMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos);
  }

  /**
   * Boots a guest whose agent socket is {@code dir/name.sock} (where {@code GatewayHarness}
   * looks for guest {@code name}); returns once its qemu-ga answers.
   */
  static GuestVm boot(Path dir, String name) throws Exception {
    return boot(dir, name, List.of());
  }

  /**
   * As {@link #boot(Path, String)}, with {@code extra} QEMU arguments. Every guest has its QMP
   * monitor at {@link #qmpSocket} and its agent port the device id {@value #AGENT_PORT_ID}.
   */
  static GuestVm boot(Path dir, String name, List<String> extra) throws Exception {
    Path guestDir = guestDir();
    ensureGuest(guestDir);
    Path socket = dir.resolve(name + ".sock");
    Path disk = dir.resolve(name + "-data.ext4");
    Files.copy(guestDir.resolve("data.ext4"), disk, StandardCopyOption.REPLACE_EXISTING);
    List<String> command = new java.util.ArrayList<>(List.of("qemu-system-x86_64",
        "-machine", "q35,accel=tcg", "-m", "256", "-nographic", "-no-reboot", "-nic", "none",
        "-kernel", guestDir.resolve("vmlinuz").toString(),
        "-initrd", guestDir.resolve("initrd.cpio.gz").toString(),
        "-append", "console=ttyS0 quiet panic=-1",
        "-device", "virtio-serial-pci",
        "-chardev", "socket,id=qga0,path=" + socket + ",server=on,wait=off",
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0,id=" + AGENT_PORT_ID,
        "-qmp", "unix:" + qmpSocket(dir, name) + ",server=on,wait=off",
        "-drive", "file=" + disk + ",if=virtio,format=raw"));
    command.addAll(extra);
    long started = System.nanoTime();
    Process qemu = null;
    try {
      qemu = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      fail("cannot run qemu-system-x86_64 (.ci/vm/build-guest.sh installs it, as root)", e);
    }
    try {
      return new GuestVm(qemu, socket, dir.resolve(name + "-console.log"), started);
    } catch (Throwable t) {
      qemu.destroyForcibly();
      throw t;
    }
  }

  /** Closes a test's gateway, then its Vert.x; either may be null. */
  static void stopGateway(GatewayHarness harness, io.vertx.core.Vertx vertx) throws Exception {
    try {
      if (harness != null) {
        harness.close();
      }
    } finally {
      if (vertx != null) {
        vertx.close().await(10, TimeUnit.SECONDS);
      }
    }
  }

  /** {@link #stopGateway}, then the VM; any may be null. */
  static void shutDown(GatewayHarness harness, io.vertx.core.Vertx vertx, GuestVm vm)
      throws Exception {
    try {
      stopGateway(harness, vertx);
    } finally {
      if (vm != null) {
        vm.close();
      }
    }
  }

  static final String AGENT_PORT_ID = "qga-port";

  /** Where the guest's QMP monitor listens. */
  static Path qmpSocket(Path dir, String name) {
    return dir.resolve(name + "-qmp.sock");
  }

  static Path guestDir() {
    return Path.of(System.getProperty("qga.vm.dir", "target/vm")).toAbsolutePath();
  }

  Path socket() {
    return socket;
  }

  Process process() {
    return qemu;
  }

  /** Everything the guest printed on its serial console so far. */
  String console() {
    return consoleText.toString();
  }

  /** How many console lines have arrived: an index for {@link #awaitConsole}. */
  int consoleLines() {
    return lines.size();
  }

  /** The first console line from index {@code from} on that matches, waiting up to {@code max}. */
  ConsoleLine awaitConsole(int from, Predicate<String> match, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    for (int i = from; ; ) {
      for (; i < lines.size(); i++) {
        if (match.test(lines.get(i).text())) {
          return lines.get(i);
        }
      }
      if (System.nanoTime() - deadline > 0) {
        return fail("no such console line within " + max + "; console:\n" + console());
      }
      sleep(2);
    }
  }

  /** The console lines from index {@code from} on that match. */
  List<ConsoleLine> consoleSince(int from, Predicate<String> match) {
    return lines.subList(from, lines.size()).stream().filter(l -> match.test(l.text())).toList();
  }

  @Override
  public void close() throws InterruptedException {
    if (qemu.isAlive()) {
      qemu.destroy();
      if (!qemu.waitFor(10, TimeUnit.SECONDS)) {
        qemu.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
    consoleReader.join(5_000);
  }

  // ---- the raw client ---------------------------------------------------------------------------

  /**
   * One command over a connection of its own, as a plain client would send it: 0xFF and a
   * {@code guest-sync-delimited} first (dropping whatever an earlier client left), then the
   * command with an id; returns the agent's reply to it ({@code return} or {@code error}).
   * Only while no gateway is connected.
   */
  JsonObject raw(String execute, JsonObject arguments, Duration timeout) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      long syncId = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE >> 12);
      write(ch, "\u00ff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":" + syncId + "}}");
      String synced = "\u00ff{\"return\": " + syncId + "}";
      if (!readUntil(ch, synced, timeout.toMillis()).contains(synced)) {
        fail("qemu-ga did not answer a sync within " + timeout);
      }
      long id = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE >> 12);
      JsonObject request = new JsonObject().put("execute", execute).put("id", id);
      if (arguments != null) {
        request.put("arguments", arguments);
      }
      write(ch, request.encode());
      // the agent puts the id first in errors and last in returns
      String read = readUntil(ch, text -> text.contains("\"id\": " + id + ",")
          || text.contains("\"id\": " + id + "}"), timeout.toMillis());
      for (String line : read.split("\n")) {
        try {
          JsonObject reply = new JsonObject(line.replace("\u00ff", ""));
          if (Long.valueOf(id).equals(reply.getLong("id"))) {
            return reply;
          }
        } catch (DecodeException e) {
          // an earlier client's leftovers or a partial line: not ours
        }
      }
      return fail("no reply to " + execute + " within " + timeout + ": " + read);
    }
  }

  /**
   * Waits until qemu-ga in the guest answers a guest-sync-delimited. A probe abandoned while
   * the guest boots is answered to the next probe, so each probe scans for its own id.
   */
  private void awaitAgent() throws Exception {
    long deadline = System.nanoTime() + BOOT.toNanos();
    for (int id = 1000; System.nanoTime() < deadline; id++) {
      assertTrue(qemu.isAlive(), () -> "QEMU exited while booting: " + console());
      try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        ch.connect(UnixDomainSocketAddress.of(socket));
        write(ch, "\u00ff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":" + id + "}}");
        String expected = "{\"return\": " + id + "}";
        if (readUntil(ch, expected, 2_000).contains(expected)) {
          return;
        }
      }
    }
    fail("qemu-ga in the VM did not answer within " + BOOT + "; console:\n" + console());
  }

  static void write(SocketChannel ch, String text) throws IOException {
    // ISO-8859-1 keeps U+00FF a single 0xFF byte
    ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.ISO_8859_1));
    while (buffer.hasRemaining()) {
      ch.write(buffer);
    }
  }

  /** Reads until {@code expected} was seen, EOF or {@code timeoutMs}; returns what it read. */
  static String readUntil(SocketChannel ch, String expected, long timeoutMs) throws IOException {
    return readUntil(ch, text -> text.contains(expected), timeoutMs);
  }

  /** Reads until what it read {@code satisfies}, EOF or {@code timeoutMs}; returns what it read. */
  static String readUntil(SocketChannel ch, Predicate<String> satisfies, long timeoutMs)
      throws IOException {
    boolean blocking = ch.isBlocking();
    ch.configureBlocking(false);
    ByteArrayOutputStream read = new ByteArrayOutputStream();
    ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    try (Selector selector = Selector.open()) {
      SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
      while (System.nanoTime() < deadline) {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0 || selector.select(left) == 0) {
          continue;
        }
        selector.selectedKeys().clear();
        buffer.clear();
        int n = ch.read(buffer);
        if (n < 0) {
          break;
        }
        read.write(buffer.array(), 0, n);
        if (satisfies.test(read.toString(StandardCharsets.ISO_8859_1))) {
          break;
        }
      }
      key.cancel();
      selector.selectNow();
    }
    ch.configureBlocking(blocking);
    return read.toString(StandardCharsets.ISO_8859_1);
  }

  // ---- the guest's build ------------------------------------------------------------------------

  /**
   * Builds the guest with the script when the directory lacks it or holds a guest of another
   * version of the script (its stamp is the script's SHA-256); fails saying how otherwise.
   */
  static void ensureGuest(Path guestDir) throws Exception {
    Path script = Path.of(".ci/vm/build-guest.sh").toAbsolutePath();
    String want = sha256(script);
    Path stamp = guestDir.resolve("build-guest.sha256");
    if (Files.isRegularFile(guestDir.resolve("vmlinuz"))
        && Files.isRegularFile(guestDir.resolve("initrd.cpio.gz"))
        && Files.isRegularFile(guestDir.resolve("data.ext4"))
        && Files.isRegularFile(stamp) && Files.readString(stamp).trim().equals(want)) {
      return;
    }
    Path log = Files.createTempFile("build-guest", ".log");
    Process p = new ProcessBuilder("bash", script.toString(), guestDir.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      p.destroyForcibly();
      fail("no guest in " + guestDir + " and " + script + " " + guestDir + " failed (run it as "
          + "root to install QEMU and a kernel):\n" + Files.readString(log));
    }
    Files.writeString(stamp, want + "\n");
  }

  private static String sha256(Path file) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(Files.readAllBytes(file)));
  }

  // ---- the console ------------------------------------------------------------------------------

  private void readConsole() {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    try (InputStream in = qemu.getInputStream();
         OutputStream log = Files.newOutputStream(consoleLog)) {
      byte[] buffer = new byte[8192];
      int n;
      while ((n = in.read(buffer)) >= 0) {
        long now = System.nanoTime();
        log.write(buffer, 0, n);
        log.flush();
        String text = new String(buffer, 0, n, StandardCharsets.ISO_8859_1);
        consoleText.append(text);
        for (int i = 0; i < n; i++) {
          if (buffer[i] == '\n') {
            lines.add(new ConsoleLine(now, line.toString(StandardCharsets.ISO_8859_1).strip()));
            line.reset();
          } else {
            line.write(buffer[i]);
          }
        }
      }
    } catch (IOException e) {
      consoleText.append("\n(console: ").append(e).append(")\n");
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      fail("interrupted");
    }
  }

}
