package io.qgagateway.auth;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * What a command does, as an operator grants it: every catalog row has exactly one class, and
 * {@code auth.grants} name classes, not commands (docs/SECURITY.md).
 */
public enum CommandClass {
  /** Information: osinfo, users, disks, network, stats, freeze status, vCPU and memory lists. */
  READ,
  /** fsfreeze-freeze(-list), fsfreeze-thaw, fstrim. */
  FILESYSTEM,
  /** shutdown, suspend-*, wakeup. */
  POWER,
  /** set-time. */
  TIME,
  /** guest-exec, guest-exec-status, run. */
  EXEC,
  /** file-get, a read-only guest-file-open, guest-file-read/seek/close. */
  FILE_READ,
  /** file-put, guest-file-open for writing, guest-file-write/flush. */
  FILE_WRITE,
  /** set-user-password, the ssh authorized-keys commands. */
  CREDENTIALS,
  /** set-vcpus, set-memory-blocks. */
  HARDWARE,
  /** agent.command (also checked against the class of the command it executes). */
  PASSTHROUGH;

  /** The name in configuration, logs and messages: {@code file-read}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  public static Optional<CommandClass> byLabel(String label) {
    return Arrays.stream(values()).filter(c -> c.label().equals(label)).findFirst();
  }

  public static String labels() {
    return String.join(", ", Arrays.stream(values()).map(CommandClass::label).toList());
  }
}
