package io.qgagateway.e2e;

import io.qgagateway.Gateway;
import io.qgagateway.sim.SimulatedAgent;
import io.qgagateway.testing.GatewayHarness;
import io.qgagateway.testing.RawHttp;
import io.qgagateway.testing.RawHttp.Answer;
import io.qgagateway.testing.TestVertx;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Request bodies within bounds (issue 10): the per-request cap (413), the member's body budget
 * (503 with Retry-After), the connection closed after a refusal, the budget given back after
 * every answer and every failure, and streamed uploads ({@code PUT /v1/guests/{g}/files}) that
 * arrive intact while holding about one chunk, under policy like any file-put.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HttpBodyLimitsTest {

  private static final long MIB = 1024 * 1024;
  private static final long MAX_BODY = MIB;
  private static final long BUDGET = 2 * MIB;
  private static final long MAX_UPLOAD = 8 * MIB;
  /** Long enough for the tests that hold bodies on purpose to do their part. */
  private static final long IDLE_MS = 5_000;
  /** sim-ro's agent refuses guest-file-write: a streamed upload fails after its opening put. */
  private static final String READ_ONLY = "sim-ro";

  @TempDir
  static Path dir;

  private static Vertx vertx;
  private static SimulatedAgent agent;
  private static Gateway gateway;
  private static int port;
  private static final ExecutorService pool = Executors.newCachedThreadPool();

  @BeforeAll
  static void start() throws Exception {
    vertx = TestVertx.create();
    String socket = dir.resolve("sim-1.sock").toString();
    agent = new SimulatedAgent(vertx, "sim-1");
    agent.listenUnix(socket).await(10, TimeUnit.SECONDS);
    String readOnly = dir.resolve("sim-ro.sock").toString();
    new SimulatedAgent(vertx, READ_ONLY, SimulatedAgent.Options.DEFAULTS
        .withBlocked("guest-file-write")).listenUnix(readOnly).await(10, TimeUnit.SECONDS);
    JsonObject config = RealAgentFixture.baseConfig(new JsonArray()
        .add(new JsonObject().put("name", "sim-1").put("socket", socket))
        .add(new JsonObject().put("name", READ_ONLY).put("socket", readOnly)))
        .put("policy", new JsonObject().put("allow", new JsonArray().add("file-put")));
    config.getJsonObject("http").put("maxBodyBytes", MAX_BODY)
        .put("maxInFlightBodyBytes", BUDGET).put("maxUploadBytes", MAX_UPLOAD)
        .put("bodyIdleTimeoutMs", IDLE_MS);
    gateway = RealAgentFixture.startGateway(vertx, config);
    Bus.awaitReady(vertx, "sim-1", 15_000);
    Bus.awaitReady(vertx, READ_ONLY, 15_000);
    port = gateway.httpPort();
  }

  @AfterAll
  static void stop() throws Exception {
    pool.shutdownNow();
    try {
      if (gateway != null) {
        gateway.stop().await(30, TimeUnit.SECONDS);
      }
    } finally {
      if (vertx != null) {
        vertx.close().await(10, TimeUnit.SECONDS);
      }
    }
  }

  /** Whatever a test did, every byte it charged is given back once its requests are over. */
  @AfterEach
  void budgetIsWholeAgain() {
    awaitBudget(0);
  }

  private static void awaitBudget(long bytes) {
    GatewayHarness.waitFor("body budget at " + bytes + " (now "
        + gateway.httpBodyBytesInFlight() + ")", () -> gateway.httpBodyBytesInFlight() == bytes);
  }

  private static Answer post(String command, boolean chunked, long contentLength,
                             RawHttp.Body body) throws Exception {
    return RawHttp.exchange(pool, port, command, "POST", "/v1/guests/sim-1/commands/" + command,
        chunked, contentLength, body, "Content-Type", "application/json");
  }

  private static Answer upload(String guest, String query, boolean chunked, byte[] content)
      throws Exception {
    return RawHttp.exchange(pool, port, "upload", "PUT", "/v1/guests/" + guest + "/files?"
        + query, chunked, chunked ? -1 : content.length, RawHttp.bytes(content));
  }

  /** Sends nothing until the answer came: an answer proves nothing of the body was needed. */
  private static RawHttp.Body nothingUntilAnswered() {
    return (out, answered) -> {
      while (!answered.getAsBoolean()) {
        Thread.sleep(5);
      }
    };
  }

  /** Asserts the contract's error body and returns its message. */
  private static String error(int status, Answer answer) {
    assertEquals(status, answer.status(), answer.toString());
    assertTrue(answer.headers().get("content-type").startsWith("application/json"));
    JsonObject error = new JsonObject(answer.body()).getJsonObject("error");
    assertNotNull(error, answer.toString());
    assertEquals(status, error.getInteger("code"), answer.toString());
    assertFalse(error.getString("message", "").isEmpty(), answer.toString());
    return error.getString("message");
  }

  private static byte[] random(int bytes, int seed) {
    byte[] content = new byte[bytes];
    new Random(seed).nextBytes(content);
    return content;
  }

  private static byte[] fileOf(String path) throws Exception {
    return Future.<byte[]>future(p -> agent.context().runOnContext(v ->
        p.complete(agent.guest().file(path)))).await(10, TimeUnit.SECONDS);
  }

  // ------------------------------------------------------------------------------ the caps

  @Test
  void aContentLengthOverTheCapIs413BeforeAByteIsRead() throws Exception {
    Answer answer = post("file-put", false, MAX_BODY + 1, nothingUntilAnswered());
    assertTrue(error(413, answer).contains("http.maxBodyBytes"), answer.toString());
    assertTrue(answer.closed(), "the connection is closed after a refusal: " + answer);
    assertNull(answer.retryAfter(), "a 413 is final: " + answer);
  }

  @Test
  void aChunkedBodyIs413AtTheFirstByteOverTheCap() throws Exception {
    Answer answer = post("file-put", true, -1, RawHttp.filler(20 * MIB));
    assertTrue(error(413, answer).contains(MAX_BODY + " bytes"), answer.toString());
    assertTrue(answer.closed(), answer.toString());
    assertTrue(answer.sent() < 20 * MIB, "the rest was not read: " + answer);
  }

  @Test
  void aBodyUpToTheCapIsRead() throws Exception {
    // one 'x' short of the cap: all read, then refused as JSON, and the connection kept
    Answer answer = post("ping", false, MAX_BODY, RawHttp.filler(MAX_BODY));
    assertEquals("body is not valid JSON", error(400, answer));
    assertFalse(answer.closed(), answer.toString());
  }

  // ---------------------------------------------------------------------------- the budget

  @Test
  void aBodyOverTheBudgetIs503WithRetryAfterAndEveryHolderGivesItsShareBack() throws Exception {
    long held = 900 * 1024;
    CountDownLatch finish = new CountDownLatch(1);
    CountDownLatch hangUp = new CountDownLatch(1);
    // two clients hold 900 KiB each: one will finish its body, one will go away
    var finishing = pool.submit(() -> post("ping", false, MAX_BODY, (out, answered) -> {
      RawHttp.filler(held).write(out, answered);
      out.flush();
      finish.await();
      RawHttp.filler(MAX_BODY - held).write(out, answered);
    }));
    var leaving = pool.submit(() -> post("ping", true, -1, (out, answered) -> {
      RawHttp.filler(held).write(out, answered);
      out.flush();
      hangUp.await();
      throw new RawHttp.Hangup();
    }));
    awaitBudget(2 * held);

    // a third needs more than the 248 KiB left: refused at the piece that does not fit
    Answer refused = post("ping", false, MAX_BODY, RawHttp.filler(MAX_BODY));
    String message = error(503, refused);
    assertTrue(message.contains(BUDGET + ", http.maxInFlightBodyBytes"), message);
    assertEquals("1", refused.retryAfter(), refused.toString());
    assertTrue(refused.closed(), "the rest of the body is not read: " + refused);
    awaitBudget(2 * held);   // what it had charged is back

    hangUp.countDown();
    ExecutionException gone = assertThrows(ExecutionException.class,
        () -> leaving.get(30, TimeUnit.SECONDS));
    assertNotNull(gone.getCause());
    awaitBudget(held);       // a client gone mid-body gives its share back

    finish.countDown();
    assertEquals("body is not valid JSON", error(400, finishing.get(30, TimeUnit.SECONDS)));
    awaitBudget(0);
    // and the whole budget is usable again: a body of the cap is read
    assertEquals(400, post("ping", false, MAX_BODY, RawHttp.filler(MAX_BODY)).status());
  }

  @Test
  void aClientThatStopsSendingIs408AndGivesItsShareBack() throws Exception {
    RawHttp.Body stalls = (out, answered) -> {
      RawHttp.filler(100_000).write(out, answered);
      out.flush();
      while (!answered.getAsBoolean()) {
        Thread.sleep(5);
      }
    };
    var buffered = pool.submit(() -> post("ping", false, MAX_BODY, stalls));
    var streamed = pool.submit(() -> RawHttp.exchange(pool, port, "stalled upload", "PUT",
        "/v1/guests/sim-1/files?path=/stalled", true, -1, stalls));
    awaitBudget(200_000);
    long start = System.nanoTime();
    Answer one = buffered.get(30, TimeUnit.SECONDS);
    assertTrue(error(408, one).contains("http.bodyIdleTimeoutMs"), one.toString());
    assertTrue(one.closed(), one.toString());
    Answer other = streamed.get(30, TimeUnit.SECONDS);
    assertTrue(error(408, other).contains("0 bytes were written to /stalled"), other.toString());
    assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(2 * IDLE_MS));
  }

  @Test
  void everyAnswerGivesTheBudgetBack() throws Exception {
    byte[] empty = "{}".getBytes(StandardCharsets.UTF_8);
    assertEquals(200, post("ping", false, empty.length, RawHttp.bytes(empty)).status());
    awaitBudget(0);
    error(400, post("ping", false, 5, RawHttp.bytes("{bad}".getBytes(StandardCharsets.UTF_8))));
    awaitBudget(0);
    byte[] run = "{\"path\": \"/bin/true\"}".getBytes(StandardCharsets.UTF_8);
    error(403, post("run", false, run.length, RawHttp.bytes(run)));
    awaitBudget(0);
    Answer unknown = RawHttp.exchange(pool, port, "unknown guest", "POST",
        "/v1/guests/nobody/commands/ping", false, 2, RawHttp.bytes(empty));
    error(404, unknown);
    awaitBudget(0);
    error(413, post("ping", true, -1, RawHttp.filler(2 * MAX_BODY)));
    awaitBudget(0);
    // a file-put whose content the agent receives: the command held the body until its answer
    String content = java.util.Base64.getEncoder().encodeToString(random(300_000, 1));
    byte[] put = new JsonObject().put("path", "/json").put("content-b64", content).encode()
        .getBytes(StandardCharsets.UTF_8);
    Answer ok = post("file-put", false, put.length, RawHttp.bytes(put));
    assertEquals(200, ok.status(), ok.toString());
    awaitBudget(0);
  }

  // ---------------------------------------------------------------------- streamed uploads

  @Test
  void aStreamedUploadArrivesIntactHoldingAboutOneChunk() throws Exception {
    byte[] content = random((int) (3.5 * MIB), 7);
    AtomicLong most = new AtomicLong();
    AtomicBoolean done = new AtomicBoolean();
    var watcher = pool.submit(() -> {
      while (!done.get()) {
        most.accumulateAndGet(gateway.httpBodyBytesInFlight(), Math::max);
        Thread.sleep(1);
      }
      return null;
    });
    Answer answer = upload("sim-1", "path=/big&mode=w", false, content);
    done.set(true);
    watcher.get(10, TimeUnit.SECONDS);
    assertEquals(200, answer.status(), answer.toString());
    assertEquals(content.length, new JsonObject(answer.body()).getJsonObject("return")
        .getLong("size"));
    assertArrayEquals(content, fileOf("/big"));
    assertTrue(most.get() > 0 && most.get() <= MIB + 64 * 1024,
        "one chunk (and the piece that completes it) at a time: " + most.get());
    // each chunk was an agent.file-put: one open per chunk, plus the opening one
    long opens = agent.received().stream().filter(r -> "guest-file-open".equals(
        r.getString("execute")) && "/big".equals(r.getJsonObject("arguments")
        .getString("path"))).count();
    assertEquals(5, opens, "opening put, then 4 chunks of at most 1 MiB");
  }

  @Test
  void aChunkedUploadAppendsAndAnEmptyOneTruncates() throws Exception {
    byte[] first = random(1_500_000, 1);
    byte[] second = random(700_000, 2);
    assertEquals(200, upload("sim-1", "path=/log", true, first).status());
    Answer appended = upload("sim-1", "path=/log&mode=a&timeoutMs=10000", true, second);
    assertEquals(second.length, new JsonObject(appended.body()).getJsonObject("return")
        .getLong("size"), appended.toString());
    byte[] both = Arrays.copyOf(first, first.length + second.length);
    System.arraycopy(second, 0, both, first.length, second.length);
    assertArrayEquals(both, fileOf("/log"));

    Answer truncated = upload("sim-1", "path=/log&mode=w", false, new byte[0]);
    assertEquals(0, new JsonObject(truncated.body()).getJsonObject("return").getLong("size"));
    assertEquals(0, fileOf("/log").length);
  }

  @Test
  void badUploadRequestsAre400And404BeforeTheBodyIsRead() throws Exception {
    assertTrue(error(400, RawHttp.exchange(pool, port, "no path", "PUT",
        "/v1/guests/sim-1/files", false, 10, nothingUntilAnswered())).startsWith("path:"));
    assertTrue(error(400, RawHttp.exchange(pool, port, "bad mode", "PUT",
        "/v1/guests/sim-1/files?path=/x&mode=r", false, 10, nothingUntilAnswered()))
        .startsWith("mode:"));
    Answer unknown = RawHttp.exchange(pool, port, "unknown guest", "PUT",
        "/v1/guests/nobody/files?path=/x", false, 10, nothingUntilAnswered());
    error(404, unknown);
    assertTrue(unknown.closed(), unknown.toString());
  }

  @Test
  void anUploadOverItsCapIs413() throws Exception {
    Answer declared = RawHttp.exchange(pool, port, "declared", "PUT",
        "/v1/guests/sim-1/files?path=/huge", false, MAX_UPLOAD + 1, nothingUntilAnswered());
    assertTrue(error(413, declared).contains("http.maxUploadBytes"), declared.toString());
    assertNull(fileOf("/huge"), "refused before the opening put");

    Answer chunked = RawHttp.exchange(pool, port, "chunked", "PUT",
        "/v1/guests/sim-1/files?path=/huge", true, -1, RawHttp.filler(3 * MAX_UPLOAD));
    String message = error(413, chunked);
    assertTrue(message.contains("bytes were written to /huge"), message);
    assertTrue(chunked.closed(), chunked.toString());
    assertTrue(fileOf("/huge").length <= MAX_UPLOAD, "what was written stays: not atomic");
  }

  @Test
  void aFailureAfterTheOpeningPutSaysWhatWasWritten() throws Exception {
    // sim-ro opens files but refuses every write
    Answer answer = upload(READ_ONLY, "path=/x", false, random(100_000, 3));
    String message = error(501, answer);
    assertTrue(message.contains("0 bytes were written to /x before; the file is incomplete"),
        message);
  }

  /** A gateway of its own, with the default policy, which denies file-put. */
  @Test
  void anUploadThatPolicyForbidsIs403BeforeTheBodyIsRead() throws Exception {
    Vertx other = TestVertx.create();
    try {
      String socket = dir.resolve("sim-policy.sock").toString();
      SimulatedAgent guarded = new SimulatedAgent(other, "sim-policy");
      guarded.listenUnix(socket).await(10, TimeUnit.SECONDS);
      Gateway strict = RealAgentFixture.startGateway(other, RealAgentFixture.baseConfig(
          new JsonArray().add(new JsonObject().put("name", "sim-1").put("socket", socket))));
      try {
        Bus.awaitReady(other, "sim-1", 15_000);
        List<Answer> answers = new ArrayList<>();
        for (String query : List.of("path=/etc/passwd", "path=/etc/passwd&mode=a")) {
          answers.add(RawHttp.exchange(pool, strict.httpPort(), "forbidden", "PUT",
              "/v1/guests/sim-1/files?" + query, false, 4 * MIB, nothingUntilAnswered()));
        }
        for (Answer answer : answers) {
          assertTrue(error(403, answer).contains("file-put"), answer.toString());
          assertTrue(answer.closed(), answer.toString());
        }
        assertFalse(guarded.received().stream().anyMatch(r -> r.getString("execute")
            .startsWith("guest-file-")), "nothing reached the guest");
        assertEquals(0, strict.httpBodyBytesInFlight());
      } finally {
        strict.stop().await(30, TimeUnit.SECONDS);
      }
    } finally {
      other.close().await(10, TimeUnit.SECONDS);
    }
  }
}
