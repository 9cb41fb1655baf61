package io.qgagateway.commands;

import io.qgagateway.commands.CommandSpec.Kind;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static io.qgagateway.auth.CommandClass.CREDENTIALS;
import static io.qgagateway.auth.CommandClass.EXEC;
import static io.qgagateway.auth.CommandClass.FILESYSTEM;
import static io.qgagateway.auth.CommandClass.FILE_READ;
import static io.qgagateway.auth.CommandClass.FILE_WRITE;
import static io.qgagateway.auth.CommandClass.HARDWARE;
import static io.qgagateway.auth.CommandClass.PASSTHROUGH;
import static io.qgagateway.auth.CommandClass.POWER;
import static io.qgagateway.auth.CommandClass.READ;
import static io.qgagateway.auth.CommandClass.TIME;
import static io.qgagateway.commands.CommandSpec.agent;
import static io.qgagateway.commands.CommandSpec.operation;
import static io.qgagateway.commands.ParamSpec.opt;
import static io.qgagateway.commands.ParamSpec.req;
import static io.qgagateway.commands.ParamType.BOOL;
import static io.qgagateway.commands.ParamType.INT;
import static io.qgagateway.commands.ParamType.STRING;
import static io.qgagateway.commands.ParamType.UINT;
import static io.qgagateway.commands.ParamType.arrayOf;
import static io.qgagateway.commands.ParamType.either;
import static io.qgagateway.commands.ParamType.intAtLeast;
import static io.qgagateway.commands.ParamType.object;
import static io.qgagateway.commands.ParamType.oneOf;
import static java.time.Duration.ofHours;
import static java.time.Duration.ofMinutes;
import static java.time.Duration.ofSeconds;

/**
 * Every guest-agent command up to QEMU 10.0 and every gateway operation, in one table.
 * A new QEMU command is one more line; its parameters follow qga/qapi-schema.json.
 *
 * <p>Choices worth knowing (defaults: replies, read-only, allowed by default policy, 10 s):
 * <ul>
 *   <li>mutating (audited): anything that sets, shuts down, suspends, freezes, thaws, trims,
 *       runs code or changes credentials; of the file commands open (may create or truncate),
 *       write and flush. read, seek and close change only the agent's handle table.
 *   <li>class (what {@code auth.grants} grant, docs/SECURITY.md): reading the time, the freeze
 *       status and the vCPU/memory lists is {@code read}; listing SSH keys is
 *       {@code credentials}; guest-file-open is {@code file-write} (it may create or truncate),
 *       narrowed to {@code file-read} for a read-only mode by {@link RequestBody#classes()}.
 *   <li>shutdown/suspend: 10 s, as only the grace window for an error matters.
 *   <li>fsfreeze-freeze: 1 h, as the agent syncs every filesystem first; fstrim 10 min.
 *       get-fsinfo and get-disks: 30 s, they walk sysfs per disk and are slow on big guests.
 *   <li>guest-exec-status is restricted together with guest-exec: the agent forgets a process
 *       once it reported its exit, so a caller polling a pid could steal {@code run}'s result.
 * </ul>
 */
public final class CommandCatalog {

  /** The longest timeout a request or configuration may set: 24 h. */
  public static final long MAX_TIMEOUT_MS = Duration.ofHours(24).toMillis();

  private static final ParamType FILE_WHENCE = either(INT, oneOf("set", "cur", "end"));
  private static final ParamType CAPTURE_OUTPUT =
      either(BOOL, oneOf("none", "stdout", "stderr", "separated", "merged"));
  private static final ParamType LOGICAL_CPU = object(
      req("logical-id", INT), req("online", BOOL), opt("can-offline", BOOL));
  private static final ParamType MEMORY_BLOCK = object(
      req("phys-index", UINT), req("online", BOOL), opt("can-offline", BOOL));

  private static final List<CommandSpec.Builder> TABLE = List.of(
      agent("guest-sync-delimited", "1.1", READ).params(req("id", INT)).hidden(),
      agent("guest-sync", "0.15", READ).params(req("id", INT)).hidden(),
      agent("guest-ping", "0.15", READ).timeout(ofSeconds(3)),
      agent("guest-info", "0.15", READ),
      agent("guest-get-time", "1.5", READ),
      agent("guest-set-time", "1.5", TIME).params(opt("time", INT)).mutating(),
      agent("guest-shutdown", "0.15", POWER)
          .params(opt("mode", oneOf("halt", "powerdown", "reboot")))
          .noSuccessResponse().mutating(),
      agent("guest-file-open", "0.15", FILE_WRITE).params(req("path", STRING), opt("mode", STRING))
          .mutating().restricted(),
      agent("guest-file-close", "0.15", FILE_READ).params(req("handle", INT)).restricted(),
      agent("guest-file-flush", "0.15", FILE_WRITE).params(req("handle", INT))
          .mutating().restricted(),
      agent("guest-file-read", "0.15", FILE_READ).params(req("handle", INT), opt("count", INT))
          .restricted().timeout(ofSeconds(60)),
      agent("guest-file-write", "0.15", FILE_WRITE)
          .params(req("handle", INT), req("buf-b64", STRING), opt("count", INT))
          .mutating().restricted().timeout(ofSeconds(60)),
      agent("guest-file-seek", "0.15", FILE_READ)
          .params(req("handle", INT), req("offset", INT), req("whence", FILE_WHENCE))
          .restricted(),
      agent("guest-fsfreeze-status", "0.15", READ),
      agent("guest-fsfreeze-freeze", "0.15", FILESYSTEM).freezes().timeout(ofHours(1)),
      agent("guest-fsfreeze-freeze-list", "2.2", FILESYSTEM)
          .params(opt("mountpoints", arrayOf(STRING)))
          .freezes().timeout(ofHours(1)),
      agent("guest-fsfreeze-thaw", "0.15", FILESYSTEM).mutating().timeout(ofSeconds(60)),
      agent("guest-fstrim", "1.2", FILESYSTEM).params(opt("minimum", UINT)).mutating()
          .timeout(ofMinutes(10)),
      agent("guest-suspend-disk", "1.1", POWER).noSuccessResponse().mutating(),
      agent("guest-suspend-ram", "1.1", POWER).noSuccessResponse().mutating(),
      agent("guest-suspend-hybrid", "1.1", POWER).noSuccessResponse().mutating(),
      agent("guest-network-get-interfaces", "1.1", READ),
      agent("guest-get-vcpus", "1.5", READ),
      agent("guest-set-vcpus", "1.5", HARDWARE).params(req("vcpus", arrayOf(LOGICAL_CPU)))
          .mutating().restricted().timeout(ofSeconds(30)),
      agent("guest-get-fsinfo", "2.2", READ).timeout(ofSeconds(30)),
      agent("guest-set-user-password", "2.3", CREDENTIALS)
          .params(req("username", STRING), req("password", STRING), req("crypted", BOOL))
          .mutating().restricted().timeout(ofSeconds(30)),
      agent("guest-get-memory-blocks", "2.3", READ),
      agent("guest-set-memory-blocks", "2.3", HARDWARE)
          .params(req("mem-blks", arrayOf(MEMORY_BLOCK)))
          .mutating().restricted().timeout(ofSeconds(60)),
      agent("guest-get-memory-block-info", "2.3", READ),
      agent("guest-exec", "2.5", EXEC)
          .params(req("path", STRING), opt("arg", arrayOf(STRING)), opt("env", arrayOf(STRING)),
              opt("input-data", STRING), opt("capture-output", CAPTURE_OUTPUT))
          .mutating().restricted().timeout(ofSeconds(30)),
      agent("guest-exec-status", "2.5", EXEC).params(req("pid", INT)).restricted(),
      agent("guest-get-host-name", "2.10", READ),
      agent("guest-get-users", "2.10", READ),
      agent("guest-get-timezone", "2.10", READ),
      agent("guest-get-osinfo", "2.10", READ),
      agent("guest-get-disks", "5.2", READ).timeout(ofSeconds(30)),
      agent("guest-get-devices", "5.2", READ),
      agent("guest-ssh-get-authorized-keys", "5.2", CREDENTIALS).params(req("username", STRING)),
      agent("guest-ssh-add-authorized-keys", "5.2", CREDENTIALS)
          .params(req("username", STRING), req("keys", arrayOf(STRING)), opt("reset", BOOL))
          .mutating().restricted(),
      agent("guest-ssh-remove-authorized-keys", "5.2", CREDENTIALS)
          .params(req("username", STRING), req("keys", arrayOf(STRING)))
          .mutating().restricted(),
      agent("guest-get-diskstats", "7.1", READ),
      agent("guest-get-cpustats", "7.1", READ),
      agent("guest-network-get-route", "9.1", READ),
      agent("guest-get-load", "10.0", READ),

      operation(GuestOperation.RUN, EXEC)
          .params(req("path", STRING), opt("arg", arrayOf(STRING)), opt("env", arrayOf(STRING)),
              opt("input", STRING), opt("input-b64", STRING))
          .atMostOne("input", "input-b64")
          .mutating().restricted().timeout(ofSeconds(60)),
      operation(GuestOperation.FILE_GET, FILE_READ)
          .params(req("path", STRING), opt("maxBytes", intAtLeast(1)))
          .restricted().timeout(ofMinutes(5)),
      operation(GuestOperation.FILE_PUT, FILE_WRITE)
          .params(req("path", STRING), req("content-b64", STRING), opt("mode", oneOf("w", "a")))
          .mutating().restricted().timeout(ofMinutes(5)),
      // mutating and timeout here apply to an execute the catalog does not know
      operation("command", Kind.PASSTHROUGH, PASSTHROUGH).mutating().restricted()
          .timeout(ofSeconds(30)),
      operation(GuestOperation.SYNC, READ),
      // power, like shutdown and suspend: allowed by default, audited
      operation(GuestOperation.WAKEUP, POWER).mutating(),
      operation("guests", Kind.CLUSTER, READ));

  private static final CommandCatalog STANDARD =
      new CommandCatalog(TABLE.stream().map(CommandSpec.Builder::build).toList());

  private final Map<String, CommandSpec> byName = new LinkedHashMap<>();
  private final Map<String, CommandSpec> byAddress = new LinkedHashMap<>();

  private CommandCatalog(List<CommandSpec> specs) {
    for (CommandSpec spec : specs) {
      if (byName.put(spec.name(), spec) != null) {
        throw new IllegalArgumentException("duplicate command " + spec.name());
      }
      // guest-sync's suffix is agent.sync's too: only exposed specs own an address
      if (spec.exposed() && byAddress.put(spec.suffix(), spec) != null) {
        throw new IllegalArgumentException("duplicate address " + spec.address());
      }
    }
  }

  /** The catalog with the built-in default timeouts. */
  public static CommandCatalog standard() {
    return STANDARD;
  }

  /** The spec served at {@code agent.<suffix>}. */
  public Optional<CommandSpec> byAddress(String suffix) {
    return Optional.ofNullable(byAddress.get(suffix));
  }

  /** By full name: {@code guest-fstrim}, or an operation's name ({@code run}); hidden ones too. */
  public Optional<CommandSpec> byName(String name) {
    return Optional.ofNullable(byName.get(name));
  }

  /** Everything, in table order, including the syncs the gateway owns. */
  public List<CommandSpec> all() {
    return List.copyOf(byName.values());
  }

  /** What is served on the bus, in table order. */
  public List<CommandSpec> exposed() {
    return List.copyOf(byAddress.values());
  }

  /**
   * This catalog with configured default timeouts, keyed by full command or operation name
   * ({@code guest-fstrim: 1200000}). An unknown or hidden name, or a timeout outside
   * 1..{@link #MAX_TIMEOUT_MS}, is an {@link IllegalArgumentException} naming the key, so a
   * configuration typo stops the start-up instead of being ignored.
   */
  public CommandCatalog withTimeouts(Map<String, Long> timeoutsMs) {
    Map<String, CommandSpec> specs = new LinkedHashMap<>(byName);
    for (Map.Entry<String, Long> entry : timeoutsMs.entrySet()) {
      String key = entry.getKey();
      CommandSpec spec = byName(key).filter(CommandSpec::exposed)
          .orElseThrow(() -> new IllegalArgumentException(
              "timeouts." + key + ": unknown command or operation"));
      Long ms = entry.getValue();
      if (ms == null || ms < 1 || ms > MAX_TIMEOUT_MS) {
        throw new IllegalArgumentException("timeouts." + key + ": must be 1.." + MAX_TIMEOUT_MS
            + " ms, got " + ms);
      }
      specs.put(key, spec.withTimeoutMs(ms));
    }
    return new CommandCatalog(List.copyOf(specs.values()));
  }
}
