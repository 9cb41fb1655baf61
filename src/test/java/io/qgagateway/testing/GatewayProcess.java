package io.qgagateway.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * What every {@code *ProcessIT} does with a gateway started as {@code java -jar}: find the jar,
 * wait for its start-up line, wait for a condition, and show its log when something fails.
 */
public final class GatewayProcess {

  /** The start-up line's HTTP port (group 1). */
  public static final Pattern HTTP_PORT = Pattern.compile("HTTP on 127\\.0\\.0\\.1:(\\d+)");

  private GatewayProcess() {
  }

  /** The shaded jar that {@code mvn verify} builds before the integration tests. */
  public static Path jar() {
    Path jar = Path.of(System.getProperty("qga.jar", "target/qga-gateway.jar")).toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      fail("no gateway jar at " + jar + ": build it first (mvn -B package -DskipTests), or run "
          + "this test through mvn verify, which packages before integration-test");
    }
    return jar;
  }

  /** The java of this JVM, so the gateway runs on the same JDK as the tests. */
  public static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /**
   * Waits until {@code log} has a line matching {@code line}; fails, with {@code logs}, if the
   * process exits or {@code within} passes first.
   */
  public static Matcher awaitLine(Process process, String name, Path log, Pattern line,
                                  Duration within, Supplier<String> logs) throws Exception {
    long deadline = System.currentTimeMillis() + within.toMillis();
    while (true) {
      if (!process.isAlive()) {
        fail("process " + name + " exited with " + process.exitValue() + logs.get());
      }
      if (System.currentTimeMillis() > deadline) {
        fail("process " + name + " did not log /" + line + "/ within " + within + logs.get());
      }
      Matcher m = line.matcher(Files.readString(log, StandardCharsets.UTF_8));
      if (m.find()) {
        return m;
      }
      Thread.sleep(100);
    }
  }

  /** The HTTP port a gateway process logs once started; fails with its log if it dies. */
  public static int awaitHttpPort(Process process, Path log) throws Exception {
    return Integer.parseInt(awaitLine(process, "gateway", log, HTTP_PORT, Duration.ofSeconds(60),
        () -> tail(log)).group(1));
  }

  /** A step of {@link #eventually}: one attempt, which may throw an I/O error. */
  public interface Attempt<T> {
    T get() throws Exception;
  }

  /** Whether an attempt's result is the one waited for. */
  public interface Check<T> {
    boolean ok(T result) throws Exception;
  }

  /**
   * Repeats {@code attempt} until {@code check} passes, and returns that result; fails with
   * {@code logs} if the process exits or {@code within} passes first. I/O errors are retried.
   */
  public static <T> T eventually(Process process, String name, String what, Duration within,
                                 Attempt<T> attempt, Check<T> check, Supplier<String> logs)
      throws Exception {
    long deadline = System.currentTimeMillis() + within.toMillis();
    String last = "no answer";
    while (System.currentTimeMillis() < deadline) {
      if (!process.isAlive()) {
        fail(what + ": process " + name + " exited with " + process.exitValue() + logs.get());
      }
      try {
        T result = attempt.get();
        if (check.ok(result)) {
          return result;
        }
        last = String.valueOf(result);
      } catch (IOException e) {
        last = e.toString();
      }
      Thread.sleep(100);
    }
    return fail("timed out waiting for " + what + "; last: " + last + logs.get());
  }

  /** The last 40 lines of a process's log, for a failure message. */
  public static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return "\n--- " + log.getFileName() + " (last 40 lines) ---\n" + String.join("\n",
          lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "\n(" + log.getFileName() + " unreadable: " + e + ")";
    }
  }

  /** The last lines of every {@code *.log} in {@code dir}. */
  public static String tails(Path dir) {
    StringBuilder out = new StringBuilder();
    try (var files = Files.list(dir)) {
      files.filter(f -> f.toString().endsWith(".log")).sorted()
          .forEach(log -> out.append(tail(log)).append('\n'));
    } catch (IOException e) {
      out.append("\n(logs unreadable: ").append(e).append(')');
    }
    return out.toString();
  }
}
