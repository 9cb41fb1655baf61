package io.qgagateway.commands;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.api.Outcome;
import io.qgagateway.auth.Principal;
import io.qgagateway.fleet.FleetView;
import io.qgagateway.link.LinkVerticle;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Serves the public {@code agent.X} addresses on every member, one instance per event loop:
 * checks the request (400), finds the member holding the guest (404) and hands the request to
 * the guest's endpoint (this member) or internal address (another member), where authorization
 * and the link are; the request's principal travels with it. Records the latency of every
 * request, failures included.
 */
public final class CommandVerticle extends VerticleBase {

  /**
   * How much later than the request's deadline this member gives up on a forwarded request. The
   * holder answers at the deadline itself; this only covers a holder that is gone.
   */
  static final long BUS_MARGIN_MS = 500;
  /** How long a stop waits for the cluster to forget this member's registrations. */
  static final long UNREGISTER_WAIT_MS = 2_000;
  private static final Logger log = LoggerFactory.getLogger(CommandVerticle.class);

  private final CommandRules rules;
  private final FleetView view;
  private final GatewayMetrics metrics;
  private final long drainMs;
  private final boolean countsPublishes;
  private final List<MessageConsumer<Object>> consumers = new ArrayList<>();
  private final AtomicInteger inFlight = new AtomicInteger();

  /**
   * @param countsPublishes whether this instance counts and logs the publishes it refuses: a
   *                        publish reaches every instance of every member, and each member
   *                        should count it once
   */
  public CommandVerticle(CommandRules rules, FleetView view, GatewayMetrics metrics,
                         long drainMs, boolean countsPublishes) {
    this.rules = rules;
    this.view = view;
    this.metrics = metrics;
    this.drainMs = drainMs;
    this.countsPublishes = countsPublishes;
  }

  @Override
  public Future<?> start() {
    List<Future<?>> registered = new ArrayList<>();
    for (CommandSpec spec : rules.catalog().exposed()) {
      if (spec.kind() == CommandSpec.Kind.CLUSTER) {
        continue;
      }
      String suffix = spec.suffix();
      // the public address for the cluster, and this member's own for its HTTP API
      for (MessageConsumer<Object> consumer : List.of(
          vertx.eventBus().consumer(spec.address(), m -> dispatch(suffix, m, false)),
          vertx.eventBus().localConsumer(Addresses.local(spec.address()),
              m -> dispatch(suffix, m, true)))) {
        consumers.add(consumer);
        registered.add(consumer.completion());
      }
    }
    return Future.all(registered);
  }

  /** No new requests; those under way get up to the drain time to finish. */
  @Override
  public Future<?> stop() {
    // the handlers stop taking messages at once; removing the cluster-wide registrations can
    // block while Hazelcast reassigns a lost member's partitions, and the drain does not wait
    // for it
    List<Future<?>> unregistered = new ArrayList<>();
    consumers.forEach(c -> unregistered.add(c.unregister()));
    Promise<Void> drained = Promise.promise();
    long deadline = System.currentTimeMillis() + drainMs;
    awaitDrain(deadline, drained);
    return drained.future().transform(ar -> Future.join(unregistered)
        .timeout(UNREGISTER_WAIT_MS, TimeUnit.MILLISECONDS).otherwiseEmpty());
  }

  private void awaitDrain(long deadline, Promise<Void> drained) {
    if (inFlight.get() == 0 || System.currentTimeMillis() >= deadline) {
      drained.complete();
    } else {
      vertx.setTimer(20, id -> awaitDrain(deadline, drained));
    }
  }

  /** @param own the member's own address (HTTP): failures go back whole, agent class kept */
  private void dispatch(String suffix, Message<Object> message, boolean own) {
    if (message.replyAddress() == null) {
      refuse(suffix, message);
      return;
    }
    long start = System.nanoTime();
    CommandCatalog catalog = rules.catalog();
    CommandSpec spec = catalog.byAddress(suffix).orElseThrow();
    RequestBody request;
    try {
      request = RequestBody.parse(catalog, spec, message.body());
    } catch (ReplyException e) {
      finish(message, own, spec, null, start, Future.failedFuture(e), new boolean[] {false});
      return;
    }
    String caller = message.headers().get(GuestEndpoint.CALLER_HEADER);
    String principal = message.headers().get(Principal.HEADER);
    FleetView.Route route = view.route(request.guest());
    Future<JsonObject> reply;
    // whether the holder's endpoint answered: then it recorded the outcome, here we do not
    boolean[] served = {false};
    if (route instanceof FleetView.Local l) {
      served[0] = true;
      reply = serveLocally(l.verticle(), request, caller, principal, start);
    } else if (route instanceof FleetView.Remote r) {
      reply = forward(r.holder(), suffix, message.body(), request, caller, principal, start,
          served);
    } else if (route instanceof FleetView.Stopped st) {
      reply = Failures.fail(Codes.NOT_CONNECTED, stopped(request.guest(), st.holder().name(),
          st.reason()));
    } else if (route instanceof FleetView.Unreachable u) {
      reply = Failures.fail(Codes.NOT_CONNECTED, unreachable(request, u.holder(),
          "it " + u.holder().why() + " " + agoMs(u.holder()) + " ms ago"));
    } else {
      // a libvirt domain of this member that shut off lately: say why, not "no such guest"
      // (other members learn it from the fleet record: FleetView.Stopped);
      // no guest label for a guest that does not exist: callers cannot grow the registry
      JsonObject stopped = view.local().stopped(request.guest());
      finish(message, own, spec, null, start, stopped != null
          ? Failures.fail(Codes.NOT_CONNECTED, stopped(request.guest(), view.self().name(),
              stopped.getString("lastError")))
          : Failures.fail(Codes.UNKNOWN_GUEST, "no guest " + request.guest() + " in the cluster"),
          served);
      return;
    }
    inFlight.incrementAndGet();
    finish(message, own, spec, request, start,
        reply.onComplete(ar -> inFlight.decrementAndGet()), served);
  }

  /** A libvirt domain that stopped lately, on whichever member answers. */
  static String stopped(String guest, String holder, String reason) {
    return "guest " + guest + " (held by " + holder + ") cannot take commands: " + reason;
  }

  static String unreachable(RequestBody request, FleetView.Node holder, String why) {
    return "guest " + request.guest() + " is held by " + holder.name() + ", unreachable: " + why;
  }

  private static long agoMs(FleetView.Node holder) {
    return Math.max(0, System.currentTimeMillis() - holder.unreachableSinceMillis());
  }

  /**
   * A publish, or a send that expects no reply: nothing runs. A publish reaches every consumer of
   * the address on every member (one per event loop), so running it would run the command many
   * times for a caller that never learns the outcome; a command runs only for a request that can
   * be answered, once.
   */
  private void refuse(String suffix, Message<Object> message) {
    boolean publish = !message.isSend();
    if (publish && !countsPublishes) {
      return;
    }
    metrics.refused(publish ? GatewayMetrics.Refusal.PUBLISH : GatewayMetrics.Refusal.NO_REPLY);
    String caller = message.headers().get(GuestEndpoint.CALLER_HEADER);
    log.warn((publish ? "publish" : "send without reply address") + " to "
        + Addresses.publicAddress(suffix) + (caller == null ? "" : " from " + caller)
        + " refused: nothing runs for a message nobody can be answered (use request)");
  }

  /**
   * This member holds the guest: hand the checked request to its endpoint on the link's context,
   * without a second bus hop or a second parse; inline when this verticle runs on the link's
   * event loop or the backend takes the command from any loop (libvirt), else one hand-off to
   * it. The endpoint authorizes as it does for requests from other members, and the link
   * guarantees the reply within the timeout.
   */
  private Future<JsonObject> serveLocally(LinkVerticle verticle, RequestBody request,
                                          String caller, String principal, long start) {
    if (!(verticle.endpoint() instanceof GuestEndpoint endpoint)) {
      // registered, not started yet, or stopping
      return Failures.fail(Codes.UNKNOWN_GUEST, "no guest " + request.guest() + " in the cluster");
    }
    if (endpoint.servesOnAnyLoop(request)) {
      return endpoint.serve(request, caller, principal, start);
    }
    Promise<JsonObject> reply = Promise.promise();
    ((ContextInternal) verticle.link().context())
        .emit(v -> endpoint.serve(request, caller, principal, start).onComplete(reply));
    return reply.future();
  }

  /**
   * Another member holds the guest: its internal address checks the request again. The deadline
   * travels as the time left, so the holder answers at the same moment without relying on
   * synchronised clocks. If the cluster manager reports the holder gone, or it stops answering
   * the probe, while the request is on its way, the request fails at once (503 naming the
   * holder; it may have run there) instead of waiting for its deadline.
   */
  private Future<JsonObject> forward(FleetView.Node holder, String suffix, Object body,
                                     RequestBody request, String caller, String principal,
                                     long start, boolean[] served) {
    long leftMs = Math.max(1, request.deadline().remainingMs());
    JsonObject forwarded = asJson(body).copy().put("timeoutMs", leftMs);
    DeliveryOptions options = new DeliveryOptions()
        .setSendTimeout(leftMs + BUS_MARGIN_MS)
        .addHeader(GuestEndpoint.ADDRESS_HEADER, suffix)
        // the holder records the request's latency from here, where it entered the gateway
        .addHeader(GuestEndpoint.ELAPSED_HEADER, Long.toString(System.nanoTime() - start));
    if (caller != null) {
      options.addHeader(GuestEndpoint.CALLER_HEADER, caller);
    }
    // the holder authorizes the principal; none stays none (the bus principal there)
    if (principal != null) {
      options.addHeader(Principal.HEADER, principal);
    }
    Promise<JsonObject> reply = ((ContextInternal) context).promise();
    Runnable unwatch = view.watch(holder.id(), () -> reply.tryFail(Failures.of(
        Codes.NOT_CONNECTED, unreachable(request, holder, holder.name() + " " + holder.why()
            + " while the request was in flight (it may have run there)"))));
    vertx.eventBus()
        .<JsonObject>request(Addresses.link(holder.id(), request.guest()), forwarded, options)
        .onComplete(ar -> {
          unwatch.run();
          // a failure the holder answered (not the bus's timeout or lack of a handler)
          served[0] = ar.succeeded() || ar.cause() instanceof ReplyException re
              && re.failureType() == ReplyFailure.RECIPIENT_FAILURE;
          if (ar.succeeded()) {
            reply.tryComplete(ar.result().body());
          } else {
            reply.tryFail(ar.cause());
          }
        });
    return reply.future();
  }

  /**
   * Replies, and records the outcome unless the holder's endpoint did: each request is counted
   * once, by the member that holds the guest when it reached it (so alerts name the hypervisor
   * at fault), else by this member (400, 404, a holder that left or never answered).
   *
   * @param request null when the request was rejected before routing; then no guest label is
   *                recorded, so callers cannot create series for guests that do not exist
   */
  private void finish(Message<Object> message, boolean local, CommandSpec spec,
                      RequestBody request, long start, Future<JsonObject> reply,
                      boolean[] served) {
    reply.onComplete(ar -> {
      // recorded before the reply leaves: a caller that has its answer finds it counted
      if (!served[0]) {
        record(metrics, spec, request, Outcome.of(ar), System.nanoTime() - start);
      }
      if (ar.succeeded()) {
        message.reply(ar.result());
      } else {
        Failures.reply(message, ar.cause(), local);
      }
    });
  }

  /** One request's outcome in {@code qga_command_duration_seconds}. */
  static void record(GatewayMetrics metrics, CommandSpec spec, RequestBody request,
                     Outcome outcome, long nanos) {
    // a passthrough of a command the catalog lacks counts as "command": labels stay bounded
    String command = request != null && request.target() != null
        ? request.target().name() : spec.name();
    metrics.commandDone(command, request == null ? null : request.guest(), outcome, nanos);
  }

  private static JsonObject asJson(Object body) {
    // RequestBody accepted it, so it is an object already or JSON text of one
    if (body instanceof JsonObject json) {
      return json;
    }
    return new JsonObject(body instanceof io.vertx.core.buffer.Buffer b ? b.toString()
        : String.valueOf(body));
  }
}
