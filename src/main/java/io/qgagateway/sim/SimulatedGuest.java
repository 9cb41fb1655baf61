package io.qgagateway.sim;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The state of one simulated guest as its agent sees it. Fixed facts (OS, disks, network) are
 * derived from the host name when asked, and mutable parts are created on first use, so an idle
 * guest costs a few objects: benchmarks run ten thousand of them.
 */
public final class SimulatedGuest {

  static final int VCPUS = 2;
  static final int MEMORY_BLOCKS = 8;
  static final long MEMORY_BLOCK_SIZE = 128L * 1024 * 1024;
  private static final List<String> USERS = List.of("root", "user");

  private final String hostName;
  private final long bootMillis = System.currentTimeMillis();
  private long clockOffsetNanos;
  private boolean frozen;
  private final boolean[] vcpuOnline = {true, true};
  private long memoryOffline; // bit i set: block i offline
  private Map<String, Set<String>> authorizedKeys;
  private Map<String, String> passwords;
  private GuestFiles files;
  private GuestProcesses processes;

  SimulatedGuest(String hostName) {
    this.hostName = hostName;
  }

  public String hostName() {
    return hostName;
  }

  public boolean frozen() {
    return frozen;
  }

  /** The password last set for a user, decoded, or null. */
  public String password(String user) {
    return passwords == null ? null : passwords.get(user);
  }

  /** A file of the in-memory filesystem, or null. */
  public byte[] file(String path) {
    return files().get(path);
  }

  public void putFile(String path, byte[] content) {
    files().put(path, content);
  }

  GuestFiles files() {
    if (files == null) {
      files = new GuestFiles(hostName);
    }
    return files;
  }

  GuestProcesses processes() {
    if (processes == null) {
      processes = new GuestProcesses();
    }
    return processes;
  }

  // ---- clock ------------------------------------------------------------------------------------

  long timeNanos() {
    return System.currentTimeMillis() * 1_000_000L + clockOffsetNanos;
  }

  /** Without a time the agent reads the hardware clock back: here, the host's. */
  void setTime(Long nanos) {
    clockOffsetNanos = nanos == null ? 0 : nanos - System.currentTimeMillis() * 1_000_000L;
  }

  // ---- fsfreeze ---------------------------------------------------------------------------------

  String freezeStatus() {
    return frozen ? "frozen" : "thawed";
  }

  int freeze(JsonArray mountpoints) {
    int count = mountpoints == null ? 1 : (int) mountpoints.stream().filter("/"::equals).count();
    frozen = true;
    return count;
  }

  int thaw() {
    int count = frozen ? 1 : 0;
    frozen = false;
    return count;
  }

  // ---- CPUs and memory -------------------------------------------------------------------------

  JsonArray vcpus() {
    JsonArray list = new JsonArray();
    for (int i = 0; i < VCPUS; i++) {
      list.add(new JsonObject().put("logical-id", i).put("online", vcpuOnline[i])
          .put("can-offline", i > 0));
    }
    return list;
  }

  /** Applies in order and stops at the first failure, as qemu-ga does; returns how many applied. */
  int setVcpus(JsonArray requests) {
    int done = 0;
    for (Object o : requests) {
      if (!(o instanceof JsonObject r) || !(r.getValue("logical-id") instanceof Number id)
          || !(r.getValue("online") instanceof Boolean online)) {
        throw CommandError.generic("Invalid parameter type for 'vcpus[" + done + "]', expected: "
            + "GuestLogicalProcessor");
      }
      int cpu = id.intValue();
      String failure = cpu < 0 || cpu >= VCPUS ? "no such processor"
          : cpu == 0 && !online ? "processor can't be offlined" : null;
      if (failure != null) {
        if (done == 0) {
          throw CommandError.generic(failure + ": " + cpu);
        }
        break;
      }
      vcpuOnline[cpu] = online;
      done++;
    }
    return done;
  }

  JsonArray memoryBlocks() {
    JsonArray list = new JsonArray();
    for (int i = 0; i < MEMORY_BLOCKS; i++) {
      list.add(new JsonObject().put("phys-index", i)
          .put("online", (memoryOffline & (1L << i)) == 0).put("can-offline", i > 0));
    }
    return list;
  }

  JsonArray setMemoryBlocks(JsonArray requests) {
    JsonArray responses = new JsonArray();
    for (Object o : requests) {
      if (!(o instanceof JsonObject r) || !(r.getValue("phys-index") instanceof Number index)
          || !(r.getValue("online") instanceof Boolean online)) {
        throw CommandError.generic("Invalid parameter type for 'mem-blks', expected: "
            + "GuestMemoryBlock");
      }
      long i = index.longValue();
      String response;
      if (i < 0 || i >= MEMORY_BLOCKS) {
        response = "not-found";
      } else if (i == 0 && !online) {
        response = "operation-not-supported";
      } else {
        memoryOffline = online ? memoryOffline & ~(1L << i) : memoryOffline | (1L << i);
        response = "success";
      }
      responses.add(new JsonObject().put("phys-index", i).put("response", response));
    }
    return responses;
  }

  // ---- users and credentials -------------------------------------------------------------------

  JsonArray users() {
    return new JsonArray().add(new JsonObject().put("user", "root")
        .put("login-time", bootMillis / 1000.0 + 30));
  }

  void setPassword(String user, String b64, boolean crypted) {
    requireUser(user);
    String password;
    try {
      password = new String(Base64.getDecoder().decode(b64), java.nio.charset.StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw CommandError.generic("Guest agent command failed, error was 'Invalid base64 data'");
    }
    if (!crypted && password.indexOf('\n') >= 0) {
      throw CommandError.generic("Guest agent command failed, error was 'Invalid password'");
    }
    if (passwords == null) {
      passwords = new HashMap<>();
    }
    passwords.put(user, password);
  }

  JsonObject authorizedKeys(String user) {
    requireUser(user);
    Set<String> keys = authorizedKeys == null ? null : authorizedKeys.get(user);
    return new JsonObject().put("keys", new JsonArray(keys == null ? List.of()
        : new ArrayList<>(keys)));
  }

  void addAuthorizedKeys(String user, List<String> keys, boolean reset) {
    requireUser(user);
    if (authorizedKeys == null) {
      authorizedKeys = new HashMap<>();
    }
    Set<String> set = authorizedKeys.computeIfAbsent(user, u -> new LinkedHashSet<>());
    if (reset) {
      set.clear();
    }
    set.addAll(keys);
  }

  void removeAuthorizedKeys(String user, List<String> keys) {
    requireUser(user);
    if (authorizedKeys != null && authorizedKeys.containsKey(user)) {
      authorizedKeys.get(user).removeAll(keys);
    }
  }

  private static void requireUser(String user) {
    if (!USERS.contains(user)) {
      throw CommandError.generic("failed to get passwd entry for user '" + user + "'");
    }
  }

  // ---- fixed facts -----------------------------------------------------------------------------

  JsonObject osinfo() {
    return new JsonObject().put("kernel-release", "6.1.0-sim-amd64")
        .put("kernel-version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.0 (simulated)")
        .put("machine", "x86_64").put("id", "debian").put("name", "Debian GNU/Linux")
        .put("pretty-name", "Debian GNU/Linux 12 (bookworm)").put("version", "12 (bookworm)")
        .put("version-id", "12");
  }

  JsonObject timezone() {
    return new JsonObject().put("zone", "UTC").put("offset", 0);
  }

  private int hostByte() {
    return (hostName.hashCode() & 0x7FFFFFFF) % 250 + 2;
  }

  private int hostByte2() {
    return (hostName.hashCode() >>> 8 & 0x7FFFFFFF) % 250 + 2;
  }

  JsonArray networkInterfaces() {
    long up = uptimeSeconds();
    String mac = String.format("52:54:00:%02x:%02x:%02x", hostByte2(), hostByte(),
        hostName.length() & 0xFF);
    return new JsonArray()
        .add(new JsonObject().put("name", "lo").put("hardware-address", "00:00:00:00:00:00")
            .put("ip-addresses", new JsonArray()
                .add(address("127.0.0.1", "ipv4", 8)).add(address("::1", "ipv6", 128)))
            .put("statistics", statistics(up * 10, up)))
        .add(new JsonObject().put("name", "eth0").put("hardware-address", mac)
            .put("ip-addresses", new JsonArray()
                .add(address("10.0." + hostByte2() + "." + hostByte(), "ipv4", 24))
                .add(address("fe80::5054:ff:fe00:" + Integer.toHexString(hostByte()), "ipv6", 64)))
            .put("statistics", statistics(up * 1500, up * 3)));
  }

  private static JsonObject address(String ip, String type, int prefix) {
    return new JsonObject().put("ip-address", ip).put("ip-address-type", type)
        .put("prefix", prefix);
  }

  private static JsonObject statistics(long bytes, long packets) {
    return new JsonObject().put("rx-bytes", bytes).put("rx-packets", packets)
        .put("rx-errs", 0).put("rx-dropped", 0).put("tx-bytes", bytes / 2)
        .put("tx-packets", packets / 2).put("tx-errs", 0).put("tx-dropped", 0);
  }

  JsonArray routes() {
    return new JsonArray()
        .add(route("0.0.0.0", "10.0." + hostByte2() + ".1", "0.0.0.0", 3))
        .add(route("10.0." + hostByte2() + ".0", "0.0.0.0", "255.255.255.0", 1));
  }

  private static JsonObject route(String destination, String gateway, String mask, int flags) {
    return new JsonObject().put("iface", "eth0").put("destination", destination)
        .put("gateway", gateway).put("mask", mask).put("metric", 100).put("flags", flags)
        .put("refcnt", 0).put("use", 0).put("mtu", 0).put("window", 0).put("irtt", 0)
        .put("version", 4);
  }

  JsonArray fsinfo() {
    JsonObject disk = new JsonObject().put("bus-type", "virtio").put("bus", 0).put("target", 0)
        .put("unit", 0).put("dev", "/dev/vda1").put("serial", "sim-" + hostName)
        .put("pci-controller", new JsonObject().put("domain", 0).put("bus", 0).put("slot", 4)
            .put("function", 0));
    return new JsonArray().add(new JsonObject().put("name", "vda1").put("mountpoint", "/")
        .put("type", "ext4").put("used-bytes", 2_147_483_648L)
        .put("total-bytes", 10_724_835_328L).put("disk", new JsonArray().add(disk)));
  }

  JsonObject fstrim(long minimum) {
    return new JsonObject().put("paths", new JsonArray().add(new JsonObject().put("path", "/")
        .put("trimmed", 536_870_912L).put("minimum", minimum)));
  }

  JsonArray disks() {
    JsonObject address = new JsonObject().put("bus-type", "virtio").put("bus", 0)
        .put("target", 0).put("unit", 0).put("dev", "/dev/vda")
        .put("pci-controller", new JsonObject().put("domain", 0).put("bus", 0).put("slot", 4)
            .put("function", 0));
    return new JsonArray()
        .add(new JsonObject().put("name", "/dev/vda").put("partition", false)
            .put("dependencies", new JsonArray()).put("address", address))
        .add(new JsonObject().put("name", "/dev/vda1").put("partition", true)
            .put("dependencies", new JsonArray().add("/dev/vda")));
  }

  JsonArray diskstats() {
    long up = uptimeSeconds();
    return new JsonArray().add(new JsonObject().put("name", "vda").put("major", 254)
        .put("minor", 0).put("stats", new JsonObject().put("read-ios", up * 2)
            .put("read-sectors", up * 64).put("read-ticks", up).put("write-ios", up)
            .put("write-sectors", up * 16).put("write-ticks", up).put("ios-pgr", 0)
            .put("total-ticks", up * 2).put("weight-ticks", up * 2)));
  }

  JsonArray cpustats() {
    long ticks = uptimeSeconds() * 100;
    JsonArray list = new JsonArray();
    for (int i = 0; i < VCPUS; i++) {
      list.add(new JsonObject().put("type", "linux").put("cpu", i).put("user", ticks / 50)
          .put("nice", 0).put("system", ticks / 100).put("idle", ticks - ticks / 50 - ticks / 100)
          .put("iowait", 0).put("irq", 0).put("softirq", 0).put("steal", 0).put("guest", 0)
          .put("guestnice", 0));
    }
    return list;
  }

  JsonObject load() {
    return new JsonObject().put("load1m", 0.08).put("load5m", 0.03).put("load15m", 0.01);
  }

  private long uptimeSeconds() {
    return (System.currentTimeMillis() - bootMillis) / 1000 + 60;
  }
}
