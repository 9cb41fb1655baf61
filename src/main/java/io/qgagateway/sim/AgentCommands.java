package io.qgagateway.sim;

import io.qgagateway.sim.Param.Type;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import static io.qgagateway.sim.Param.optional;
import static io.qgagateway.sim.Param.required;

/**
 * The commands of qemu-ga 10.0 as the simulated agent implements them, and which ones this
 * instance disables ({@code --block-rpcs}). The table itself is shared by all instances.
 */
final class AgentCommands {

  private static final Map<String, AgentCommand> ALL = build();

  private final Set<String> blocked;
  private final String version;

  AgentCommands(Set<String> blocked, String version) {
    this.blocked = blocked;
    this.version = version;
  }

  AgentCommand find(String name) {
    return ALL.get(name);
  }

  boolean blocked(String name) {
    return blocked.contains(name);
  }

  static Set<String> names() {
    return Collections.unmodifiableSet(ALL.keySet());
  }

  /** As qemu-ga: while frozen, what the freeze disabled is listed as not enabled. */
  JsonObject info(boolean frozen) {
    JsonArray commands = new JsonArray();
    for (AgentCommand c : ALL.values()) {
      boolean enabled = !blocked(c.name()) && (!frozen || c.allowedWhenFrozen());
      commands.add(new JsonObject().put("name", c.name()).put("enabled", enabled)
          .put("success-response", c.successResponse()));
    }
    return new JsonObject().put("version", version).put("supported_commands", commands);
  }

  private static Map<String, AgentCommand> build() {
    Table t = new Table();
    // the only commands that work while frozen, besides fsfreeze-freeze being refused as frozen
    t.frozenOk("guest-sync-delimited", (g, a, c) -> a.getValue("id"), required("id", Type.INT));
    t.frozenOk("guest-sync", (g, a, c) -> a.getValue("id"), required("id", Type.INT));
    t.frozenOk("guest-ping", (g, a, c) -> new JsonObject());
    t.frozenOk("guest-info", (g, a, c) -> c.info(g.frozen()));
    t.frozenOk("guest-fsfreeze-status", (g, a, c) -> g.freezeStatus());
    t.frozenOk("guest-fsfreeze-thaw", (g, a, c) -> g.thaw());

    t.add("guest-get-time", (g, a, c) -> g.timeNanos());
    t.add("guest-set-time", (g, a, c) -> {
      g.setTime(a.getLong("time"));
      return new JsonObject();
    }, optional("time", Type.INT));
    t.noReply("guest-shutdown", (g, a, c) -> {
      String mode = a.getString("mode", "powerdown");
      if (!Set.of("halt", "powerdown", "reboot").contains(mode)) {
        throw CommandError.generic("Parameter 'mode' does not accept value '" + mode + "'");
      }
      return null;
    }, optional("mode", Type.STRING));
    t.add("guest-file-open", (g, a, c) -> g.files().open(a.getString("path"),
        a.getString("mode", "r")), required("path", Type.STRING), optional("mode", Type.STRING));
    t.add("guest-file-close", (g, a, c) -> {
      g.files().close(a.getLong("handle"));
      return new JsonObject();
    }, required("handle", Type.INT));
    t.add("guest-file-flush", (g, a, c) -> {
      g.files().flush(a.getLong("handle"));
      return new JsonObject();
    }, required("handle", Type.INT));
    t.add("guest-file-read", (g, a, c) -> g.files().read(a.getLong("handle"),
            a.getLong("count", (long) GuestFiles.DEFAULT_READ)),
        required("handle", Type.INT), optional("count", Type.INT));
    t.add("guest-file-write", (g, a, c) -> g.files().write(a.getLong("handle"),
            a.getString("buf-b64"), a.getLong("count")),
        required("handle", Type.INT), required("buf-b64", Type.STRING),
        optional("count", Type.INT));
    t.add("guest-file-seek", (g, a, c) -> g.files().seek(a.getLong("handle"),
            a.getLong("offset"), a.getValue("whence")),
        required("handle", Type.INT), required("offset", Type.INT), required("whence", Type.ANY));
    t.add("guest-fsfreeze-freeze", (g, a, c) -> g.freeze(null));
    t.add("guest-fsfreeze-freeze-list", (g, a, c) -> g.freeze(a.getJsonArray("mountpoints")),
        optional("mountpoints", Type.ARRAY));
    t.add("guest-fstrim", (g, a, c) -> g.fstrim(a.getLong("minimum", 0L)),
        optional("minimum", Type.INT));
    t.noReply("guest-suspend-disk", (g, a, c) -> null);
    t.noReply("guest-suspend-ram", (g, a, c) -> null);
    t.noReply("guest-suspend-hybrid", (g, a, c) -> null);
    t.add("guest-network-get-interfaces", (g, a, c) -> g.networkInterfaces());
    t.add("guest-get-vcpus", (g, a, c) -> g.vcpus());
    t.add("guest-set-vcpus", (g, a, c) -> g.setVcpus(a.getJsonArray("vcpus")),
        required("vcpus", Type.ARRAY));
    t.add("guest-get-fsinfo", (g, a, c) -> g.fsinfo());
    t.add("guest-set-user-password", (g, a, c) -> {
      g.setPassword(a.getString("username"), a.getString("password"), a.getBoolean("crypted"));
      return new JsonObject();
    }, required("username", Type.STRING), required("password", Type.STRING),
        required("crypted", Type.BOOL));
    t.add("guest-get-memory-blocks", (g, a, c) -> g.memoryBlocks());
    t.add("guest-set-memory-blocks", (g, a, c) -> g.setMemoryBlocks(a.getJsonArray("mem-blks")),
        required("mem-blks", Type.ARRAY));
    t.add("guest-get-memory-block-info", (g, a, c) ->
        new JsonObject().put("size", SimulatedGuest.MEMORY_BLOCK_SIZE));
    t.add("guest-exec", (g, a, c) -> new JsonObject().put("pid", g.processes().exec(
            a.getString("path"), GuestProcesses.strings(a.getJsonArray("arg"), "arg"),
            decodeInput(a.getString("input-data")),
            GuestProcesses.captureMode(a.getValue("capture-output")))),
        required("path", Type.STRING), optional("arg", Type.ARRAY), optional("env", Type.ARRAY),
        optional("input-data", Type.STRING), optional("capture-output", Type.ANY));
    t.add("guest-exec-status", (g, a, c) -> g.processes().status(a.getLong("pid")),
        required("pid", Type.INT));
    t.add("guest-get-host-name", (g, a, c) -> new JsonObject().put("host-name", g.hostName()));
    t.add("guest-get-users", (g, a, c) -> g.users());
    t.add("guest-get-timezone", (g, a, c) -> g.timezone());
    t.add("guest-get-osinfo", (g, a, c) -> g.osinfo());
    t.add("guest-get-disks", (g, a, c) -> g.disks());
    t.add("guest-get-devices", (g, a, c) -> {
      // a Windows-only command: Linux agents refuse it
      throw new CommandError("Unsupported", "this feature or command is not currently supported");
    });
    t.add("guest-ssh-get-authorized-keys", (g, a, c) ->
        g.authorizedKeys(a.getString("username")), required("username", Type.STRING));
    t.add("guest-ssh-add-authorized-keys", (g, a, c) -> {
      g.addAuthorizedKeys(a.getString("username"),
          GuestProcesses.strings(a.getJsonArray("keys"), "keys"), a.getBoolean("reset", false));
      return new JsonObject();
    }, required("username", Type.STRING), required("keys", Type.ARRAY),
        optional("reset", Type.BOOL));
    t.add("guest-ssh-remove-authorized-keys", (g, a, c) -> {
      g.removeAuthorizedKeys(a.getString("username"),
          GuestProcesses.strings(a.getJsonArray("keys"), "keys"));
      return new JsonObject();
    }, required("username", Type.STRING), required("keys", Type.ARRAY));
    t.add("guest-get-diskstats", (g, a, c) -> g.diskstats());
    t.add("guest-get-cpustats", (g, a, c) -> g.cpustats());
    t.add("guest-network-get-route", (g, a, c) -> g.routes());
    t.add("guest-get-load", (g, a, c) -> g.load());
    return Collections.unmodifiableMap(t.commands);
  }

  private static byte[] decodeInput(String b64) {
    if (b64 == null) {
      return new byte[0];
    }
    try {
      return Base64.getDecoder().decode(b64);
    } catch (IllegalArgumentException e) {
      throw CommandError.generic("Guest agent command failed, error was 'Invalid base64 data'");
    }
  }

  private static final class Table {
    final Map<String, AgentCommand> commands = new LinkedHashMap<>();

    void add(String name, AgentCommand.Body body, Param... params) {
      commands.put(name, new AgentCommand(name, params, true, false, body));
    }

    void frozenOk(String name, AgentCommand.Body body, Param... params) {
      commands.put(name, new AgentCommand(name, params, true, true, body));
    }

    void noReply(String name, AgentCommand.Body body, Param... params) {
      commands.put(name, new AgentCommand(name, params, false, false, body));
    }
  }
}
