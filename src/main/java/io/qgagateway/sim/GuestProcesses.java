package io.qgagateway.sim;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code guest-exec} on the simulated guest: a handful of programs with deterministic results.
 * Nothing runs; a process is its precomputed result plus the time it exits.
 *
 * <ul>
 *   <li>{@code /bin/echo ARGS}: ARGS joined by spaces, then a newline</li>
 *   <li>{@code /bin/cat}: its input-data</li>
 *   <li>{@code /bin/true}, {@code /bin/false}: exit code 0 or 1</li>
 *   <li>{@code /bin/sh -c "exit N"}: exit code N; any other script exits 127 with a message</li>
 *   <li>{@code /bin/sleep N}: exits N seconds (fractions allowed) after it started</li>
 * </ul>
 * Any other path fails the way qemu-ga reports a failed spawn.
 */
final class GuestProcesses {

  private record Result(int exitcode, byte[] stdout, byte[] stderr, long runMillis) {
    static Result of(int exitcode, String stdout, String stderr) {
      return new Result(exitcode, utf8(stdout), utf8(stderr), 0);
    }
  }

  private record Process(Result result, long exitAtMillis, String capture) {
  }

  private final Map<Long, Process> processes = new HashMap<>();
  private long nextPid = 4000;

  long exec(String path, List<String> args, byte[] input, String capture) {
    Result result = run(path, args, input);
    long pid = nextPid++;
    processes.put(pid, new Process(result, System.currentTimeMillis() + result.runMillis, capture));
    return pid;
  }

  /** Like qemu-ga, a process is forgotten once a status said it exited: a second poll fails. */
  JsonObject status(long pid) {
    Process p = processes.get(pid);
    if (p == null) {
      throw CommandError.invalidParameter("pid");
    }
    if (System.currentTimeMillis() < p.exitAtMillis) {
      return new JsonObject().put("exited", false);
    }
    processes.remove(pid);
    JsonObject status = new JsonObject().put("exited", true).put("exitcode", p.result.exitcode);
    byte[] out = switch (p.capture) {
      case "separated", "stdout" -> p.result.stdout;
      case "merged" -> concat(p.result.stdout, p.result.stderr);
      default -> new byte[0];
    };
    byte[] err = "separated".equals(p.capture) || "stderr".equals(p.capture)
        ? p.result.stderr : new byte[0];
    // the agent leaves out empty streams
    if (out.length > 0) {
      status.put("out-data", Base64.getEncoder().encodeToString(out));
    }
    if (err.length > 0) {
      status.put("err-data", Base64.getEncoder().encodeToString(err));
    }
    return status;
  }

  /** {@code capture-output}: false/true (before 8.0) or a mode name. */
  static String captureMode(Object value) {
    if (value == null || Boolean.FALSE.equals(value)) {
      return "none";
    }
    if (Boolean.TRUE.equals(value)) {
      return "separated";
    }
    if (value instanceof String s && List.of("none", "stdout", "stderr", "separated", "merged")
        .contains(s)) {
      return s;
    }
    throw CommandError.generic("Invalid parameter type for 'capture-output', expected: "
        + "GuestExecCaptureOutput");
  }

  static List<String> strings(JsonArray array, String param) {
    if (array == null) {
      return List.of();
    }
    for (Object o : array) {
      if (!(o instanceof String)) {
        throw CommandError.generic("Invalid parameter type for '" + param
            + "[0]', expected: string");
      }
    }
    @SuppressWarnings("unchecked")
    List<String> list = (List<String>) (List<?>) array.getList();
    return list;
  }

  private static Result run(String path, List<String> args, byte[] input) {
    switch (path) {
      case "/bin/echo", "/usr/bin/echo":
        return Result.of(0, String.join(" ", args) + "\n", "");
      case "/bin/cat", "/usr/bin/cat":
        return new Result(0, input, new byte[0], 0);
      case "/bin/true", "/usr/bin/true":
        return Result.of(0, "", "");
      case "/bin/false", "/usr/bin/false":
        return Result.of(1, "", "");
      case "/bin/sh", "/usr/bin/sh":
        return shell(args);
      case "/bin/sleep", "/usr/bin/sleep":
        return sleep(args);
      default:
        throw CommandError.generic("Guest agent command failed, error was 'Failed to execute "
            + "child process \u201c" + path + "\u201d (No such file or directory)'");
    }
  }

  private static Result shell(List<String> args) {
    if (args.size() == 2 && "-c".equals(args.get(0))) {
      String script = args.get(1).trim();
      if (script.matches("exit\\s+\\d{1,3}")) {
        return Result.of(Integer.parseInt(script.substring(4).trim()) & 0xFF, "", "");
      }
    }
    return Result.of(127, "", "sh: the simulated shell only runs 'exit N'\n");
  }

  private static Result sleep(List<String> args) {
    try {
      double seconds = Double.parseDouble(args.size() == 1 ? args.get(0) : "");
      if (seconds >= 0) {
        return new Result(0, new byte[0], new byte[0], (long) (seconds * 1000));
      }
    } catch (NumberFormatException e) {
      // falls through to sleep's own complaint
    }
    return Result.of(1, "", "sleep: invalid time interval\n");
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(a.length + b.length);
    out.writeBytes(a);
    out.writeBytes(b);
    return out.toByteArray();
  }
}
