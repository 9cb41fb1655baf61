package io.qgagateway.sim;

import io.qgagateway.api.Codes;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.testing.LinkHarness;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.stream.Collectors;

import static io.qgagateway.testing.LinkHarness.assertFails;
import static io.qgagateway.testing.LinkHarness.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(VertxExtension.class)
class SimulatedAgentTest {

  @TempDir
  Path dir;

  private SimulatedAgent agent;
  private LinkHarness h;

  @BeforeEach
  void setUp(Vertx vertx) {
    String socket = dir.resolve("qga.sock").toString();
    agent = await(new SimulatedAgent(vertx, "vm-sim",
            SimulatedAgent.Options.DEFAULTS.withBlocked("guest-set-time")).listenUnix(socket),
        Duration.ofSeconds(5));
    h = new LinkHarness(vertx, GuestTarget.unix("vm-sim", socket), LinkHarness.FAST).startReady();
  }

  @AfterEach
  void tearDown() {
    h.stop();
    await(agent.close(), Duration.ofSeconds(5));
  }

  private Object ret(String command, JsonObject args) {
    return await(h.execute(command, args, 3000), Duration.ofSeconds(5)).getValue("return");
  }

  private JsonObject retObject(String command, JsonObject args) {
    return (JsonObject) ret(command, args);
  }

  private void fails(String command, JsonObject args, int code, String message) {
    assertFails(h.execute(command, args, 3000), code, message);
  }

  private static JsonObject args(Object... kv) {
    JsonObject o = new JsonObject();
    for (int i = 0; i < kv.length; i += 2) {
      o.put((String) kv[i], kv[i + 1]);
    }
    return o;
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  private static String unb64(String s) {
    return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
  }

  @Test
  void infoListsEveryCommandWithItsFlags() {
    JsonObject info = h.link.agentInfo();
    assertEquals(SimulatedAgent.VERSION, info.getString("version"));
    JsonArray commands = info.getJsonArray("supported_commands");
    assertEquals(SimulatedAgent.commandNames().size(), commands.size());
    assertEquals(44, commands.size(), "every command of qemu-ga 10.0");
    for (Object o : commands) {
      JsonObject c = (JsonObject) o;
      String name = c.getString("name");
      assertEquals(!name.equals("guest-set-time"), c.getBoolean("enabled"), name);
      boolean noReply = name.equals("guest-shutdown") || name.startsWith("guest-suspend-");
      assertEquals(!noReply, c.getBoolean("success-response"), name);
    }
  }

  @Test
  void unknownBlockedAndUnsupportedCommands() {
    fails("guest-nope", null, Codes.UNSUPPORTED, "CommandNotFound: The command guest-nope has not been found");
    fails("guest-set-time", args("time", 1L), Codes.UNSUPPORTED,
        "CommandNotFound: Command guest-set-time has been disabled");
    fails("guest-get-devices", null, Codes.UNSUPPORTED, "Unsupported: ");
    // the link stays usable after refusals
    assertEquals(new JsonObject(), ret("guest-ping", null));
  }

  @Test
  void argumentErrorsLikeTheRealAgent() {
    fails("guest-file-read", null, Codes.AGENT_ERROR, "GenericError: Parameter 'handle' is missing");
    fails("guest-file-read", args("handle", "x"), Codes.AGENT_ERROR,
        "Invalid parameter type for 'handle', expected: integer");
    fails("guest-ping", args("extra", 1), Codes.AGENT_ERROR, "Parameter 'extra' is unexpected");
    fails("guest-exec-status", args("pid", 1), Codes.AGENT_ERROR, "Invalid parameter 'pid'");
  }

  @Test
  void freezeRefusesAllButTheAllowedCommandsUntilThaw() {
    assertEquals("thawed", ret("guest-fsfreeze-status", null));
    assertEquals(1, ret("guest-fsfreeze-freeze", null));
    assertEquals("frozen", ret("guest-fsfreeze-status", null));
    fails("guest-get-time", null, Codes.FROZEN,
        "CommandNotFound: Command guest-get-time has been disabled: the agent is in frozen state");
    fails("guest-fsfreeze-freeze", null, Codes.FROZEN, "frozen state");
    assertEquals(new JsonObject(), ret("guest-ping", null));
    assertEquals(5, ((Number) ret("guest-sync", args("id", 5))).intValue());
    assertTrue(retObject("guest-info", null).containsKey("supported_commands"));
    // a resync (0xFF + guest-sync-delimited) works while frozen too
    await(h.resync(2000), Duration.ofSeconds(5));
    assertEquals(1, ret("guest-fsfreeze-thaw", null));
    assertEquals(0, ret("guest-fsfreeze-thaw", null), "a second thaw returns 0");
    assertTrue(((Number) ret("guest-get-time", null)).longValue() > 0);
    assertEquals(0, ret("guest-fsfreeze-freeze-list", args("mountpoints", new JsonArray().add("/nope"))),
        "unknown mountpoints freeze nothing");
    assertEquals(1, ret("guest-fsfreeze-thaw", null));
  }

  @Test
  void execEchoCatShellAndStatusForgetsThePid() {
    long pid = retObject("guest-exec", args("path", "/bin/echo",
        "arg", new JsonArray().add("hello").add("world"), "capture-output", true)).getLong("pid");
    JsonObject status = retObject("guest-exec-status", args("pid", pid));
    assertEquals(true, status.getBoolean("exited"));
    assertEquals(0, status.getInteger("exitcode"));
    assertEquals("hello world\n", unb64(status.getString("out-data")));
    assertNull(status.getString("err-data"));
    fails("guest-exec-status", args("pid", pid), Codes.AGENT_ERROR,
        "GenericError: Invalid parameter 'pid'");

    long cat = retObject("guest-exec", args("path", "/bin/cat", "input-data", b64("piped \u20ac"),
        "capture-output", "merged")).getLong("pid");
    assertEquals("piped \u20ac", unb64(retObject("guest-exec-status", args("pid", cat))
        .getString("out-data")));

    long sh = retObject("guest-exec", args("path", "/bin/sh",
        "arg", new JsonArray().add("-c").add("exit 3"))).getLong("pid");
    JsonObject shStatus = retObject("guest-exec-status", args("pid", sh));
    assertEquals(3, shStatus.getInteger("exitcode"));
    assertFalse(shStatus.containsKey("out-data"), "no capture, no output");

    fails("guest-exec", args("path", "/no/such/program"), Codes.AGENT_ERROR,
        "No such file or directory");
  }

  @Test
  void sleepExitsAfterItsTime() throws InterruptedException {
    long pid = retObject("guest-exec", args("path", "/bin/sleep",
        "arg", new JsonArray().add("0.3"))).getLong("pid");
    assertEquals(new JsonObject().put("exited", false), ret("guest-exec-status", args("pid", pid)));
    Thread.sleep(350);
    assertEquals(0, retObject("guest-exec-status", args("pid", pid)).getInteger("exitcode"));
  }

  @Test
  void fileRoundTrip() {
    long w = ((Number) ret("guest-file-open", args("path", "/tmp/f.txt", "mode", "w"))).longValue();
    assertEquals(new JsonObject().put("count", 6).put("eof", false),
        ret("guest-file-write", args("handle", w, "buf-b64", b64("hello "))));
    ret("guest-file-write", args("handle", w, "buf-b64", b64("world!"), "count", 5));
    assertEquals(new JsonObject(), ret("guest-file-flush", args("handle", w)));
    ret("guest-file-close", args("handle", w));
    fails("guest-file-close", args("handle", w), Codes.AGENT_ERROR, "has not been found");

    long r = ((Number) ret("guest-file-open", args("path", "/tmp/f.txt"))).longValue();
    JsonObject first = retObject("guest-file-read", args("handle", r, "count", 5));
    assertEquals("hello", unb64(first.getString("buf-b64")));
    assertEquals(false, first.getBoolean("eof"));
    JsonObject rest = retObject("guest-file-read", args("handle", r));
    assertEquals(" world", unb64(rest.getString("buf-b64")));
    assertEquals(true, rest.getBoolean("eof"), "default count 4096 reads past the end");
    assertEquals(6L, retObject("guest-file-seek", args("handle", r, "offset", 6, "whence", "set"))
        .getLong("position"));
    assertEquals("world", unb64(retObject("guest-file-read", args("handle", r))
        .getString("buf-b64")));
    assertEquals(1L, retObject("guest-file-seek", args("handle", r, "offset", -10, "whence", 2))
        .getLong("position"));
    fails("guest-file-write", args("handle", r, "buf-b64", b64("x")), Codes.AGENT_ERROR,
        "Bad file descriptor");
    ret("guest-file-close", args("handle", r));

    long a = ((Number) ret("guest-file-open", args("path", "/tmp/f.txt", "mode", "a"))).longValue();
    ret("guest-file-write", args("handle", a, "buf-b64", b64("!")));
    ret("guest-file-close", args("handle", a));
    assertArrayEquals("hello world!".getBytes(StandardCharsets.UTF_8),
        await(onAgent(() -> agent.guest().file("/tmp/f.txt")), Duration.ofSeconds(2)));
    fails("guest-file-open", args("path", "/missing"), Codes.AGENT_ERROR, "failed to open");

    // files seeded by the guest's own setup (or a test) read back through the agent
    await(onAgent(() -> {
      agent.guest().putFile("/etc/motd", "welcome\n".getBytes(StandardCharsets.UTF_8));
      return null;
    }), Duration.ofSeconds(2));
    for (String[] file : new String[][] {{"/etc/motd", "welcome\n"}, {"/etc/hostname", "vm-sim\n"}}) {
      long h2 = ((Number) ret("guest-file-open", args("path", file[0]))).longValue();
      assertEquals(file[1], unb64(retObject("guest-file-read", args("handle", h2))
          .getString("buf-b64")));
      ret("guest-file-close", args("handle", h2));
    }
  }

  private <T> io.vertx.core.Future<T> onAgent(java.util.function.Supplier<T> action) {
    io.vertx.core.Promise<T> p = io.vertx.core.Promise.promise();
    agent.context().runOnContext(v -> p.complete(action.get()));
    return p.future();
  }

  @Test
  void shutdownSendsNoReply(Vertx vertx) throws Exception {
    assertEquals(new JsonObject().put("sent", true),
        await(h.execute("guest-shutdown", args("mode", "reboot"), 3000, false),
            Duration.ofSeconds(5)));
    assertTrue(agent.received().stream().anyMatch(r -> "guest-shutdown".equals(r.getString("execute"))));
    // and on the wire: the next bytes after a shutdown are the following request's reply
    h.stop();
    SimulatedAgent tcp = await(new SimulatedAgent(vertx, "vm-raw").listenTcp(0), Duration.ofSeconds(5));
    try (RawClient raw = RawClient.tcp(tcp.port())) {
      raw.send("{\"execute\":\"guest-suspend-ram\"}{\"execute\":\"guest-shutdown\"}"
          + "{\"execute\":\"guest-ping\",\"id\":9}");
      assertEquals("{\"return\":{},\"id\":9}", raw.line());
    } finally {
      await(tcp.close(), Duration.ofSeconds(5));
    }
  }

  @Test
  void timeUsersKeysPasswordsCpusAndMemory() {
    fails("guest-set-time", null, Codes.UNSUPPORTED, "disabled");
    long now = System.currentTimeMillis() * 1_000_000L;
    assertTrue(Math.abs(((Number) ret("guest-get-time", null)).longValue() - now) < 5_000_000_000L);
    assertEquals("vm-sim", retObject("guest-get-host-name", null).getString("host-name"));
    assertEquals("root", ((JsonArray) ret("guest-get-users", null)).getJsonObject(0).getString("user"));

    ret("guest-ssh-add-authorized-keys", args("username", "root",
        "keys", new JsonArray().add("ssh-ed25519 AAA a").add("ssh-ed25519 BBB b")));
    ret("guest-ssh-remove-authorized-keys", args("username", "root",
        "keys", new JsonArray().add("ssh-ed25519 AAA a")));
    assertEquals(new JsonArray().add("ssh-ed25519 BBB b"),
        retObject("guest-ssh-get-authorized-keys", args("username", "root")).getJsonArray("keys"));
    fails("guest-ssh-get-authorized-keys", args("username", "nobody"), Codes.AGENT_ERROR, "nobody");

    ret("guest-set-user-password", args("username", "user", "password", b64("s3cret"),
        "crypted", false));
    assertEquals("s3cret", await(onAgent(() -> agent.guest().password("user")), Duration.ofSeconds(2)));

    assertEquals(1, ret("guest-set-vcpus", args("vcpus", new JsonArray()
        .add(new JsonObject().put("logical-id", 1).put("online", false)))));
    List<Boolean> online = ((JsonArray) ret("guest-get-vcpus", null)).stream()
        .map(o -> ((JsonObject) o).getBoolean("online")).collect(Collectors.toList());
    assertEquals(List.of(true, false), online);
    fails("guest-set-vcpus", args("vcpus", new JsonArray()
        .add(new JsonObject().put("logical-id", 0).put("online", false))), Codes.AGENT_ERROR, "offlined");

    JsonArray responses = (JsonArray) ret("guest-set-memory-blocks", args("mem-blks", new JsonArray()
        .add(new JsonObject().put("phys-index", 3).put("online", false))
        .add(new JsonObject().put("phys-index", 99).put("online", false))));
    assertEquals("success", responses.getJsonObject(0).getString("response"));
    assertEquals("not-found", responses.getJsonObject(1).getString("response"));
    assertEquals(false, ((JsonArray) ret("guest-get-memory-blocks", null)).getJsonObject(3)
        .getBoolean("online"));
    assertEquals(SimulatedGuest.MEMORY_BLOCK_SIZE,
        retObject("guest-get-memory-block-info", null).getLong("size"));

    // the read-only reports have their documented shape
    assertEquals("eth0", ((JsonArray) ret("guest-network-get-interfaces", null)).getJsonObject(1)
        .getString("name"));
    assertEquals("/", ((JsonArray) ret("guest-get-fsinfo", null)).getJsonObject(0).getString("mountpoint"));
    assertEquals("/", retObject("guest-fstrim", null).getJsonArray("paths").getJsonObject(0).getString("path"));
    assertEquals("debian", retObject("guest-get-osinfo", null).getString("id"));
    assertEquals(0, retObject("guest-get-timezone", null).getInteger("offset"));
    assertTrue(retObject("guest-get-load", null).containsKey("load15m"));
    assertEquals(2, ((JsonArray) ret("guest-get-disks", null)).size());
    assertEquals(2, ((JsonArray) ret("guest-get-cpustats", null)).size());
    assertEquals("vda", ((JsonArray) ret("guest-get-diskstats", null)).getJsonObject(0).getString("name"));
    assertEquals("eth0", ((JsonArray) ret("guest-network-get-route", null)).getJsonObject(0).getString("iface"));
  }

  @Test
  void wireBehaviourOfTheRealAgent(Vertx vertx) throws Exception {
    SimulatedAgent tcp = await(new SimulatedAgent(vertx, "vm-wire").listenTcp(0), Duration.ofSeconds(5));
    try (RawClient raw = RawClient.tcp(tcp.port())) {
      raw.sendBytes(concat(new byte[] {(byte) 0xFF},
          "{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":77}}".getBytes(StandardCharsets.UTF_8)));
      assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON parse error, stray '\uFFFD'\"}}",
          raw.line());
      assertEquals(0xFF, raw.read());
      assertEquals("{\"return\":77}", raw.line());
      // garbage, then two requests split across writes, one with an id of any JSON type
      raw.send("garbage{\"execute\":\"guest-sync\",\"argu");
      Thread.sleep(20);
      raw.send("ments\":{\"id\":5}}{\"execute\":\"guest-ping\",\"id\":{\"k\":[1]}}");
      assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON parse error, invalid keyword\"}}",
          raw.line());
      assertEquals("{\"return\":5}", raw.line());
      assertEquals("{\"return\":{},\"id\":{\"k\":[1]}}", raw.line());
      raw.send("{\"execute\":\"guest-nope\",\"id\":1}{\"arguments\":{}}");
      assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command guest-nope has not been found\"},\"id\":1}",
          raw.line());
      assertTrue(raw.line().contains("lacks member 'execute'"));
      // half a request stays in the agent's parser when the client goes
      raw.send("{\"execute\":\"guest-ping\"");
    }
    try (RawClient next = RawClient.tcp(tcp.port())) {
      next.sendBytes(concat(new byte[] {(byte) 0xFF}, "{\"execute\":\"guest-ping\"}".getBytes(StandardCharsets.UTF_8)));
      assertTrue(next.line().contains("stray"), "a leading 0xFF clears the leftover");
      assertEquals("{\"return\":{}}", next.line());
    } finally {
      await(tcp.close(), Duration.ofSeconds(5));
    }
  }

  @Test
  void servesOneClientAtATime(Vertx vertx) throws Exception {
    SimulatedAgent tcp = await(new SimulatedAgent(vertx, "vm-two").listenTcp(0), Duration.ofSeconds(5));
    RawClient first = RawClient.tcp(tcp.port());
    try (RawClient second = RawClient.tcp(tcp.port())) {
      second.send("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":2}}");
      first.send("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}");
      assertEquals("{\"return\":1}", first.line());
      assertNull(second.lineOrNull(200), "the second client waits for the first");
      first.close();
      assertEquals("{\"return\":2}", second.line());
    } finally {
      first.close();
      await(tcp.close(), Duration.ofSeconds(5));
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(a);
    out.writeBytes(b);
    return out.toByteArray();
  }

  /** A blocking loopback client reading the agent's output line by line. */
  private static final class RawClient implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;

    private RawClient(Socket socket) throws IOException {
      this.socket = socket;
      this.socket.setSoTimeout(3000);
      this.in = socket.getInputStream();
    }

    static RawClient tcp(int port) throws IOException {
      return new RawClient(new Socket("127.0.0.1", port));
    }

    void send(String s) throws IOException {
      sendBytes(s.getBytes(StandardCharsets.UTF_8));
    }

    void sendBytes(byte[] b) throws IOException {
      socket.getOutputStream().write(b);
      socket.getOutputStream().flush();
    }

    int read() throws IOException {
      return in.read();
    }

    String line() throws IOException {
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      for (int b = in.read(); b != '\n'; b = in.read()) {
        if (b < 0) {
          throw new IOException("EOF after " + line);
        }
        line.write(b);
      }
      return line.toString(StandardCharsets.UTF_8);
    }

    String lineOrNull(int waitMs) throws IOException {
      socket.setSoTimeout(waitMs);
      try {
        return line();
      } catch (SocketTimeoutException e) {
        return null;
      } finally {
        socket.setSoTimeout(3000);
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }
}
