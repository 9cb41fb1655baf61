package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.api.Outcome;
import io.qgagateway.auth.Principal;
import io.qgagateway.fleet.GuestEvents;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.LinkEndpoint;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Serves one guest's internal address on the node that holds its link. Everything that reaches
 * the guest passes here, whichever member or protocol it entered by: the request is checked
 * again, the principal authorized, commands the agent disabled refused locally, and mutating
 * and refused commands audited.
 */
public final class GuestEndpoint implements LinkEndpoint {

  private static final Logger log = LoggerFactory.getLogger(GuestEndpoint.class);

  /** Headers of the internal message: which public address it came in on, and who sent it. */
  public static final String ADDRESS_HEADER = "address";
  public static final String CALLER_HEADER = "caller";
  /** Nanoseconds the request spent on the member it entered before it was forwarded here. */
  public static final String ELAPSED_HEADER = "qga-elapsed-ns";

  private static final String THAW = "guest-fsfreeze-thaw";
  private static final String STATUS = "guest-fsfreeze-status";

  private final AgentChannel link;
  private final CommandRules rules;
  private final FreezeGuard freeze;
  private final RunOperation run;
  private final FileTransfer files;
  private final GatewayMetrics metrics;
  // refuseLocally's index of link.agentInfo(), one volatile snapshot: plain commands of a backend
  // that takes calls from any loop are served off the link's context
  private volatile CommandIndex index;

  /** @param byName null when a name in the info is not a string (then the list is scanned) */
  private record CommandIndex(JsonObject info, Map<String, JsonObject> byName) {
  }

  public GuestEndpoint(Vertx vertx, AgentChannel link, CommandRules rules, GuestEvents events,
                       GatewayMetrics metrics, long autoThawMs, boolean thawForeign,
                       long fileMaxBytes) {
    this.link = link;
    this.rules = rules;
    this.metrics = metrics;
    this.freeze = new FreezeGuard(vertx, link, events, metrics, autoThawMs, thawForeign);
    this.run = new RunOperation(vertx, link);
    this.files = new FileTransfer(link, fileMaxBytes);
  }

  @Override
  public boolean frozen() {
    return freeze.frozen();
  }

  @Override
  public void refreshed(String freezeStatus) {
    freeze.observedStatus(freezeStatus);
  }

  @Override
  public Future<Void> close() {
    return freeze.release();
  }

  /** A request that came over the bus, from another member or straight to this address. */
  @Override
  public void handle(Message<JsonObject> message) {
    if (message.replyAddress() == null) {
      // a publish or a send without reply: nothing runs for a message nobody can be answered
      metrics.refused(message.isSend() ? GatewayMetrics.Refusal.NO_REPLY
          : GatewayMetrics.Refusal.PUBLISH);
      log.warn((message.isSend() ? "send without reply address" : "publish") + " to "
          + message.address() + " refused: nothing runs for a message nobody can be answered");
      return;
    }
    long start = System.nanoTime() - elapsedNanos(message);
    String suffix = message.headers().get(ADDRESS_HEADER);
    CommandCatalog catalog = rules.catalog();
    CommandSpec spec = suffix == null ? null : catalog.byAddress(suffix).orElse(null);
    if (spec == null || spec.kind() == CommandSpec.Kind.CLUSTER) {
      message.fail(Codes.BAD_REQUEST, "unknown command: " + suffix);
      return;
    }
    RequestBody request;
    try {
      request = RequestBody.parse(catalog, spec, message.body());
    } catch (ReplyException e) {
      Failures.reply(message, e, true);
      CommandVerticle.record(metrics, spec, null, Outcome.BAD_REQUEST, System.nanoTime() - start);
      return;
    }
    serve(request, message.headers().get(CALLER_HEADER), message.headers().get(Principal.HEADER),
        start).onComplete(ar -> {
      if (ar.succeeded()) {
        message.reply(ar.result());
      } else {
        Failures.reply(message, ar.cause(), true);
      }
    });
  }

  private static long elapsedNanos(Message<?> message) {
    String elapsed = message.headers().get(ELAPSED_HEADER);
    if (elapsed == null) {
      return 0;
    }
    try {
      return Math.max(0, Long.parseLong(elapsed));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /**
   * Whether {@link #serve} may run this request on the event loop that received it rather than
   * on the link's context: a plain command with a reply (no operation, no freeze state to keep),
   * on a backend that takes such calls from any loop (libvirt). Everything it touches then is
   * thread-safe: the policy, grants and rate limiter (its buckets are a concurrent map), the
   * command index, metrics, the audit line.
   */
  public boolean servesOnAnyLoop(RequestBody request) {
    if (!link.callsFromAnyLoop() || request.spec().operation() != null
        || !request.successResponse()) {
      return false;
    }
    String command = request.execute();
    return !(request.target() != null && request.target().freezes()) && !THAW.equals(command)
        && !STATUS.equals(command);
  }

  /**
   * Serves a checked request: authorization (policy, grants, rate limits), then the command or
   * operation, then the audit line and the outcome in {@code qga_command_duration_seconds},
   * recorded here, on the member holding the guest, whichever member the request entered. Call
   * on the link's context (or anywhere when {@link #servesOnAnyLoop} says so); every path
   * through the gateway ends here.
   *
   * @param principal the request's {@link Principal#HEADER}, null for an event-bus caller that
   *                  set none
   * @param entered   when the request entered the gateway ({@link System#nanoTime()} here)
   */
  public Future<JsonObject> serve(RequestBody request, String caller, String principal,
                                  long entered) {
    long start = System.nanoTime();
    CommandSpec spec = request.spec();
    Principal who = rules.access().principal(principal);
    Future<JsonObject> result;
    boolean denied = false;
    try {
      Optional<ReplyException> forbidden = Authorization.check(rules, metrics, who, request);
      denied = forbidden.isPresent();
      result = denied ? Future.failedFuture(forbidden.get()) : dispatch(spec, request);
    } catch (RuntimeException e) {
      // a bug still gets its one reply, at once: the local path has no bus timeout behind it
      log.error("serving " + spec.name() + " for " + link.name() + " failed", e);
      result = Failures.fail(Codes.ERROR, "internal error: " + e);
    }
    result = result.onComplete(ar -> CommandVerticle.record(metrics, spec, request,
        Outcome.of(ar), System.nanoTime() - entered));
    if (!request.mutating() && !denied) {
      return result;
    }
    String name = who == null ? "invalid" : who.name();
    return result.onComplete(ar -> {
      Audit.record(link.name(), request.execute() != null ? request.execute() : spec.name(),
          name, caller, Outcome.of(ar), System.nanoTime() - start,
          ar.failed() ? ar.cause().getMessage() : null);
    });
  }

  private Future<JsonObject> dispatch(CommandSpec spec, RequestBody request) {
    if (spec.operation() != null) {
      return switch (spec.operation()) {
        case SYNC -> link.resync(request.deadline());
        case RUN -> run.run(request.arguments(), request.deadline());
        case FILE_GET -> files.get(request.arguments(), request.deadline());
        case FILE_PUT -> files.put(request.arguments(), request.deadline());
        case WAKEUP -> link.wakeup(request.deadline());
      };
    }
    String command = request.execute();
    Optional<ReplyException> refused = refuseLocally(command);
    if (refused.isPresent()) {
      return Future.failedFuture(refused.get());
    }
    if (request.target() != null && request.target().freezes()) {
      return freeze.freeze(request);
    }
    if (THAW.equals(command)) {
      return freeze.thaw(request);
    }
    if (STATUS.equals(command)) {
      // the freeze guard lives on the link's context: this one completes there
      return link.execute(command, request.arguments(), request.deadline(),
              request.successResponse())
          .onSuccess(reply -> freeze.observedStatus(reply.getValue("return")));
    }
    // only the audit and the reply follow (thread-safe): the backend may answer from its thread
    return link.executeForCaller(command, request.arguments(), request.deadline(),
        request.successResponse());
  }

  /**
   * The agent's guest-info, cached after each sync, says what it disabled or lacks: no need to
   * ask it. Before the first info, the agent decides.
   */
  private Optional<ReplyException> refuseLocally(String command) {
    JsonObject info = link.agentInfo();
    if (info == null || !(info.getValue("supported_commands") instanceof JsonArray commands)) {
      return Optional.empty();
    }
    JsonObject entry = supportedEntry(info, commands, command);
    if (entry != null) {
      return entry.getBoolean("enabled", true) ? Optional.empty()
          : Optional.of(Failures.agent(Codes.UNSUPPORTED, "CommandNotFound",
              "Command " + command + " has been disabled"));
    }
    return Optional.of(Failures.agent(Codes.UNSUPPORTED, "CommandNotFound", "The command "
        + command + " has not been found (agent " + info.getValue("version") + ")"));
  }

  /**
   * The first entry of {@code supported_commands} named {@code command}, or null. Looked up in an
   * index built once per cached guest-info (the link replaces the object after each sync and
   * nothing modifies it), instead of scanning some 50 entries on every request; the scan remains
   * for an info with a name that is not a string, so such input fails exactly as before.
   */
  private JsonObject supportedEntry(JsonObject info, JsonArray commands, String command) {
    CommandIndex current = index;
    if (current == null || current.info() != info) {
      current = new CommandIndex(info, index(commands));
      index = current;
    }
    if (current.byName() != null) {
      return current.byName().get(command);
    }
    for (Object c : commands) {
      if (c instanceof JsonObject entry && command.equals(entry.getString("name"))) {
        return entry;
      }
    }
    return null;
  }

  private static Map<String, JsonObject> index(JsonArray commands) {
    Map<String, JsonObject> byName = new HashMap<>();
    for (Object c : commands) {
      if (c instanceof JsonObject entry) {
        Object name = entry.getValue("name");
        if (name instanceof String n) {
          byName.putIfAbsent(n, entry);
        } else if (name != null) {
          return null;
        }
      }
    }
    return byName;
  }
}
