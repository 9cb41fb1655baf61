package io.qgagateway.e2e;

import io.qgagateway.api.Codes;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * agent.run, agent.file-put and agent.file-get against a real qemu-ga that allows exec and file
 * commands. Every file path is inside this test's temporary directory; the processes run
 * (echo, sh, cat) touch no files.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RunAndFilesTest {

  private static final String GUEST = RealAgentFixture.GUEST;

  @RegisterExtension
  static final RealAgentExtension AGENT = new RealAgentExtension(true, new JsonObject()
      .put("policy", new JsonObject().put("allow",
          new JsonArray().add("run").add("file-get").add("file-put"))));

  @TempDir
  static Path dir;

  private static Path files;

  @BeforeAll
  static void start() throws Exception {
    files = Files.createDirectories(dir.resolve("files"));
  }

  private static JsonObject call(JsonObject arguments) {
    return new JsonObject().put("guest", GUEST).put("arguments", arguments);
  }

  private static JsonObject run(JsonObject arguments) throws Exception {
    return Bus.ok(AGENT.vertx(), "agent.run", call(arguments)).getJsonObject("return");
  }

  @Test
  void runEcho() throws Exception {
    JsonObject result = run(new JsonObject().put("path", "/bin/echo")
        .put("arg", new JsonArray().add("hello")));
    assertEquals(0, result.getInteger("exitcode"), result.encode());
    assertEquals("hello\n", result.getString("stdout"), result.encode());
    assertEquals(Base64.getEncoder().encodeToString("hello\n".getBytes()),
        result.getString("stdout-b64"));
    assertEquals("", result.getString("stderr"), result.encode());
    assertFalse(result.getBoolean("truncated"));
  }

  @Test
  void runReportsTheExitCode() throws Exception {
    JsonObject result = run(new JsonObject().put("path", "/bin/sh")
        .put("arg", new JsonArray().add("-c").add("echo oops >&2; exit 3")));
    assertEquals(3, result.getInteger("exitcode"), result.encode());
    assertEquals("oops\n", result.getString("stderr"), result.encode());
  }

  @Test
  void runFeedsInput() throws Exception {
    String input = "line one\nzweite Zeile äöü\n";
    JsonObject result = run(new JsonObject().put("path", "/bin/cat").put("input", input));
    assertEquals(0, result.getInteger("exitcode"), result.encode());
    assertEquals(input, result.getString("stdout"), result.encode());
  }

  @Test
  void filePutThenGetRoundTripsBinaryContent() throws Exception {
    // 3 MiB + a bit: more than one 1 MiB chunk each way, every byte value included
    byte[] content = new byte[3 * 1024 * 1024 + 4321];
    new Random(42).nextBytes(content);
    for (int i = 0; i < 256; i++) {
      content[i] = (byte) i;
    }
    Path file = files.resolve("round-trip.bin");
    JsonObject put = Bus.ok(AGENT.vertx(), "agent.file-put", call(new JsonObject()
        .put("path", file.toString())
        .put("content-b64", Base64.getEncoder().encodeToString(content))));
    assertEquals(content.length, put.getJsonObject("return").getLong("size"));
    assertArrayEquals(content, Files.readAllBytes(file), "what the agent wrote on disk");

    JsonObject got = Bus.ok(AGENT.vertx(), "agent.file-get", call(new JsonObject()
        .put("path", file.toString()))).getJsonObject("return");
    assertEquals(content.length, got.getLong("size"));
    assertArrayEquals(content, Base64.getDecoder().decode(got.getString("content-b64")));
  }

  @Test
  void filePutAppends() throws Exception {
    Path file = files.resolve("append.txt");
    for (String part : new String[] {"one\n", "two\n"}) {
      Bus.ok(AGENT.vertx(), "agent.file-put", call(new JsonObject().put("path", file.toString())
          .put("mode", "a")
          .put("content-b64", Base64.getEncoder().encodeToString(part.getBytes()))));
    }
    assertEquals("one\ntwo\n", Files.readString(file));
  }

  @Test
  void fileGetOfAMissingFileIsTheAgentsError() throws Exception {
    Path missing = files.resolve("does-not-exist");
    ReplyException e = Bus.failure(AGENT.vertx(), "agent.file-get", call(new JsonObject()
        .put("path", missing.toString())));
    assertEquals(Codes.AGENT_ERROR, e.failureCode(), e.getMessage());
    // "<Class>: <desc>", the desc being qemu-ga's own
    assertTrue(e.getMessage().matches("^[A-Za-z]+: .*"), e.getMessage());
    assertTrue(e.getMessage().contains("No such file"), e.getMessage());
  }

  @Test
  void fileGetLargerThanMaxBytesIsBadRequest() throws Exception {
    Path file = files.resolve("big.txt");
    Files.write(file, new byte[10_000]);
    ReplyException e = Bus.failure(AGENT.vertx(), "agent.file-get", call(new JsonObject()
        .put("path", file.toString()).put("maxBytes", 100)));
    assertEquals(Codes.BAD_REQUEST, e.failureCode(), e.getMessage());
    // the handle was closed and the link is fine: a read of the whole file still works
    JsonObject got = Bus.ok(AGENT.vertx(), "agent.file-get", call(new JsonObject()
        .put("path", file.toString()))).getJsonObject("return");
    assertEquals(10_000, got.getLong("size"));
  }

  /**
   * The default policy refuses run and exec even though this agent would run them: a gateway
   * of its own, on a Vert.x of its own (two gateways on one bus would share agent.* addresses).
   */
  @Test
  void defaultPolicyForbidsRunAndExec() throws Exception {
    Vertx other = TestVertx.create();
    try (RealAgentFixture defaults = RealAgentFixture.start(other, dir.resolve("defaults"), true,
        new JsonObject())) {
      ReplyException run = Bus.failure(other, "agent.run", call(new JsonObject()
          .put("path", "/bin/echo").put("arg", new JsonArray().add("no"))));
      assertEquals(Codes.FORBIDDEN, run.failureCode(), run.getMessage());
      ReplyException exec = Bus.failure(other, "agent.exec", call(new JsonObject()
          .put("path", "/bin/echo").put("arg", new JsonArray().add("no"))));
      assertEquals(Codes.FORBIDDEN, exec.failureCode(), exec.getMessage());
      ReplyException get = Bus.failure(other, "agent.file-get", call(new JsonObject()
          .put("path", dir.resolve("defaults").resolve("agent").resolve("qemu-ga.log")
              .toString())));
      assertEquals(Codes.FORBIDDEN, get.failureCode(), get.getMessage());
      Bus.ok(other, "agent.ping", new JsonObject().put("guest", GUEST));
    } finally {
      other.close().await(10, TimeUnit.SECONDS);
    }
  }
}
