package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.Failures;
import io.qgagateway.auth.CommandClass;
import io.qgagateway.commands.CommandSpec.Kind;
import io.qgagateway.link.GuestTarget;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A checked request (API.md section 2): {@code {"guest", "arguments", "timeoutMs"}}, plus
 * {@code autoThawMs} where a freeze is sent and {@code execute} on {@code agent.command}.
 *
 * @param spec       the address's spec
 * @param guest      the guest; null only on {@code agent.guests} without one
 * @param execute    the agent command to send; null for gateway operations
 * @param target     the catalog's spec of {@code execute}; null when there is none (gateway
 *                   operations, or a passthrough of a command the catalog does not know)
 * @param arguments  checked arguments, never null
 * @param timeoutMs  the request's timeout, or the default of {@code target} (else {@code spec})
 * @param deadline   when the request must be answered: {@code timeoutMs} from when it was
 *                   parsed, which is where it entered this member
 * @param autoThawMs the requested auto-thaw delay (0 = off); null when not given, meaning the
 *                   configured default; only ever set where {@code target} freezes
 */
public record RequestBody(CommandSpec spec, String guest, String execute, CommandSpec target,
                          JsonObject arguments, long timeoutMs, Deadline deadline,
                          Long autoThawMs) {

  /** What {@code agent.command} may execute: a guest-agent command name. */
  public static final Pattern EXECUTE = Pattern.compile("guest-[a-z0-9-]+");
  private static final String FILE_OPEN = "guest-file-open";

  /**
   * Checks a bus or HTTP body: a JsonObject, or JSON text as a String or Buffer.
   *
   * @throws ReplyException with code 400 naming what is wrong
   */
  public static RequestBody parse(CommandCatalog catalog, CommandSpec spec, Object body) {
    JsonObject json = asObject(body);
    String execute = spec.kind() == Kind.AGENT ? spec.name()
        : spec.kind() == Kind.PASSTHROUGH ? execute(catalog, json.getValue("execute")) : null;
    CommandSpec target = execute == null ? null : catalog.byName(execute).orElse(null);
    boolean freezes = target != null && target.freezes();

    boolean passthrough = spec.kind() == Kind.PASSTHROUGH;
    for (String field : json.fieldNames()) {
      if (!allowed(field, passthrough, freezes)) {
        throw bad(field + ": unknown field" + ("autoThawMs".equals(field)
            ? " (only for fsfreeze-freeze and fsfreeze-freeze-list)"
            : " (expected " + expected(passthrough, freezes) + ")"));
      }
    }

    String guest = guest(json.getValue("guest"), spec.kind() != Kind.CLUSTER);
    // a passthrough of a known command is checked exactly as on the command's own address
    JsonObject arguments = ArgumentValidator.validate(passthrough && target != null ? target : spec,
        json.getValue("arguments"));
    Long timeout = millis(json, "timeoutMs", 1);
    long timeoutMs = timeout != null ? timeout : (target != null ? target : spec).timeoutMs();
    return new RequestBody(spec, guest, execute, target, arguments, timeoutMs,
        Deadline.in(timeoutMs), millis(json, "autoThawMs", 0));
  }

  private static boolean allowed(String field, boolean passthrough, boolean freezes) {
    return switch (field) {
      case "guest", "arguments", "timeoutMs" -> true;
      case "execute" -> passthrough;
      case "autoThawMs" -> freezes;
      default -> false;
    };
  }

  /** The fields {@link #allowed} accepts, sorted, for the error message. */
  private static String expected(boolean passthrough, boolean freezes) {
    Set<String> fields = new TreeSet<>(Set.of("guest", "arguments", "timeoutMs"));
    if (passthrough) {
      fields.add("execute");
    }
    if (freezes) {
      fields.add("autoThawMs");
    }
    return String.join(", ", fields);
  }

  /** Audited: what the catalog says of the command sent; an unknown passthrough counts as one. */
  public boolean mutating() {
    return (target != null ? target : spec).mutating();
  }

  /**
   * The classes a principal needs (docs/SECURITY.md): the address's, and on {@code agent.command}
   * also the executed command's (a command the catalog does not know needs passthrough only).
   * A guest-file-open with a read-only mode ({@code r}, {@code rb}, or none: the agent reads)
   * needs file-read instead of file-write.
   */
  public List<CommandClass> classes() {
    CommandClass own = classOf(spec);
    return spec.kind() == Kind.PASSTHROUGH && target != null
        ? List.of(own, classOf(target)) : List.of(own);
  }

  private CommandClass classOf(CommandSpec s) {
    if (s.name().equals(FILE_OPEN)) {
      String mode = arguments.getString("mode", "r");
      if (mode.equals("r") || mode.equals("rb")) {
        return CommandClass.FILE_READ;
      }
    }
    return s.commandClass();
  }

  /** False when the agent answers nothing on success: reply {@code {"sent": true}}. */
  public boolean successResponse() {
    return target == null || target.successResponse();
  }

  private static JsonObject asObject(Object body) {
    Object decoded = body;
    try {
      if (body instanceof String text) {
        decoded = Json.decodeValue(text);
      } else if (body instanceof Buffer buffer) {
        decoded = Json.decodeValue(buffer);
      }
    } catch (DecodeException e) {
      throw bad("body is not JSON");
    }
    if (decoded instanceof Map<?, ?> map) {
      @SuppressWarnings("unchecked")
      JsonObject wrapped = new JsonObject((Map<String, Object>) map);
      return wrapped;
    }
    if (!(decoded instanceof JsonObject json)) {
      throw bad("body: expected a JSON object, got " + JsonKind.of(decoded));
    }
    return json;
  }

  private static String execute(CommandCatalog catalog, Object value) {
    if (value == null) {
      throw bad("execute: missing required field");
    }
    if (!(value instanceof String name) || !EXECUTE.matcher(name).matches()) {
      throw bad("execute: expected a command name like guest-info, got "
          + (value instanceof String s ? "'" + shorten(s) + "'" : JsonKind.of(value)));
    }
    if (catalog.byName(name).filter(s -> !s.exposed()).isPresent()) {
      throw bad("execute: " + name + " is owned by the gateway; use agent.sync");
    }
    return name;
  }

  private static String guest(Object value, boolean required) {
    if (value == null) {
      if (required) {
        throw bad("guest: missing required field");
      }
      return null;
    }
    if (!(value instanceof String name)) {
      throw bad("guest: expected string, got " + JsonKind.of(value));
    }
    if (!GuestTarget.validName(name)) {
      throw bad("guest: invalid name '" + shorten(name) + "', expected "
          + GuestTarget.NAME.pattern());
    }
    return name;
  }

  /** An optional integer field of milliseconds in min..{@link CommandCatalog#MAX_TIMEOUT_MS}. */
  private static Long millis(JsonObject json, String field, long min) {
    if (!json.containsKey(field)) {
      return null;
    }
    Object value = json.getValue(field);
    if (!JsonKind.isInteger(value)) {
      throw bad(field + ": expected integer, got " + JsonKind.of(value));
    }
    long ms = ((Number) value).longValue();
    if (ms < min || ms > CommandCatalog.MAX_TIMEOUT_MS) {
      throw bad(field + ": must be " + min + ".." + CommandCatalog.MAX_TIMEOUT_MS + ", got " + ms);
    }
    return ms;
  }

  private static String shorten(String s) {
    return s.length() > 64 ? s.substring(0, 64) + "..." : s;
  }

  private static ReplyException bad(String message) {
    return Failures.of(Codes.BAD_REQUEST, message);
  }
}
