package io.qgagateway.demo;

import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A real {@code qemu-ga} run on this host, listening on a Unix socket, for the demo and the
 * tests. On a host the agent acts on THIS machine, so every command that could harm it is
 * blocked; exec and file commands too unless asked for. Blocking calls: use from a worker.
 */
public final class HostAgent implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(HostAgent.class);

  /** Commands that would shut down, suspend, freeze, trim or reconfigure this machine. */
  public static final List<String> DANGEROUS = List.of(
      "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
      "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fstrim", "guest-set-time",
      "guest-set-vcpus", "guest-set-memory-blocks", "guest-set-user-password",
      "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys");

  /** Blocked unless {@code allowExecAndFiles}: they run code and touch files on the host. */
  public static final List<String> EXEC_AND_FILES = List.of(
      "guest-exec", "guest-exec-status", "guest-file-open", "guest-file-close", "guest-file-read",
      "guest-file-write", "guest-file-seek", "guest-file-flush");

  private static final List<String> LOCATIONS = List.of("/usr/sbin/qemu-ga", "/usr/bin/qemu-ga");

  private final Path binary;
  private final Path directory;
  private final Path socket;
  private final List<String> blocked;
  private Process process;

  private HostAgent(Path binary, Path directory, boolean allowExecAndFiles, List<String> extra) {
    this.binary = binary;
    this.directory = directory;
    this.socket = directory.resolve("qga.sock");
    Set<String> block = new LinkedHashSet<>(DANGEROUS);
    if (!allowExecAndFiles) {
      block.addAll(EXEC_AND_FILES);
    }
    block.addAll(extra);
    this.blocked = List.copyOf(block);
  }

  /** Where qemu-ga is installed, if it is. */
  public static Optional<Path> find() {
    List<String> candidates = new ArrayList<>(LOCATIONS);
    String path = System.getenv("PATH");
    if (path != null) {
      for (String dir : path.split(File.pathSeparator)) {
        candidates.add(dir + "/qemu-ga");
      }
    }
    return candidates.stream().map(Path::of).filter(Files::isExecutable).findFirst();
  }

  /**
   * Starts qemu-ga in {@code directory} (its socket, state and log live there) and waits until
   * it listens.
   */
  public static HostAgent start(Path directory, boolean allowExecAndFiles, List<String> alsoBlock)
      throws IOException {
    Path binary = find().orElseThrow(() -> new IOException(
        "qemu-ga is not installed (Debian: apt-get install qemu-guest-agent)"));
    Files.createDirectories(directory);
    HostAgent agent = new HostAgent(binary, directory, allowExecAndFiles, alsoBlock);
    agent.launch();
    return agent;
  }

  public Path socket() {
    return socket;
  }

  public boolean alive() {
    return process != null && process.isAlive();
  }

  public long pid() {
    return process.pid();
  }

  /** Stops and starts the agent again on the same socket, as an agent upgrade would. */
  public void restart() throws IOException {
    stop();
    launch();
  }

  /** Starts it again if it exited (qemu-ga exits when a client leaves with a reply unread). */
  public void ensureRunning() throws IOException {
    if (!alive()) {
      log.info("qemu-ga on " + socket + " had exited; starting it again");
      launch();
    }
  }

  private void launch() throws IOException {
    Files.deleteIfExists(socket);
    List<String> command = List.of(binary.toString(), "-m", "unix-listen", "-p", socket.toString(),
        "-t", directory.toString(), "-b", String.join(",", blocked));
    process = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.resolve("qemu-ga.log").toFile()))
        .start();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!Files.exists(socket)) {
      if (!process.isAlive()) {
        throw new IOException("qemu-ga exited at start with " + process.exitValue() + "; see "
            + directory.resolve("qemu-ga.log"));
      }
      if (System.nanoTime() > deadline) {
        stop();
        throw new IOException("qemu-ga did not create " + socket + " within 10 s");
      }
      sleep(10);
    }
  }

  public void stop() {
    Process p = process;
    if (p == null) {
      return;
    }
    p.destroy();
    try {
      if (!p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    process = null;
  }

  @Override
  public void close() {
    stop();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
