package io.qgagateway.http;

import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.auth.Principal;
import io.qgagateway.commands.CommandCatalog;
import io.qgagateway.commands.CommandSpec;
import io.qgagateway.commands.GuestEndpoint;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.tls.ServerTls;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;


/**
 * The HTTP API of API.md section 4. Commands go through the event bus to the same
 * {@code agent.*} addresses as every other caller, so codes, policy and metrics are the same.
 */
public final class HttpApiVerticle extends VerticleBase {

  /**
   * A safety net only: the member's own dispatcher resolves each request's deadline (the
   * executed command's default, from the configuration in force) and answers by it.
   */
  private static final long LOCAL_SEND_TIMEOUT_MS = CommandCatalog.MAX_TIMEOUT_MS + 60_000;
  /** What the fleet listing may take. */
  /** {@link #timeoutMs} answered the request itself (400). */
  private static final long ANSWERED = -1;
  private static final long GUESTS_TIMEOUT_MS = 5_000;
  /** The routing context's key of the authenticated principal. */
  private static final String PRINCIPAL = "qga.principal";

  private final GatewayConfig.Http config;
  private final EntryGuard guard;
  private final CommandCatalog catalog;
  private final PrometheusMeterRegistry prometheus;
  private final Health health;
  private final BodyBudget budget;
  private HttpServer server;
  private ServerTls tls;

  public HttpApiVerticle(GatewayConfig.Http config, EntryGuard guard, CommandCatalog catalog,
                         PrometheusMeterRegistry prometheus, Health health) {
    this.config = config;
    this.guard = guard;
    this.catalog = catalog;
    this.prometheus = prometheus;
    this.health = health;
    this.budget = new BodyBudget(config.maxInFlightBodyBytes());
  }

  /** The request-body bytes held now by all requests in flight (http.maxInFlightBodyBytes). */
  public long bodyBytesInFlight() {
    return budget.used();
  }

  /** The port actually bound (useful with port 0). */
  public int port() {
    return server.actualPort();
  }

  @Override
  public Future<?> start() {
    Router router = Router.router(vertx);
    router.route().handler(this::refuseDotSegments);
    router.get("/health/live").handler(ctx -> json(ctx, 200, new JsonObject().put("status", "UP")));
    router.get("/health/ready").handler(ctx -> json(ctx, health.ready() ? 200 : 503,
        health.readiness()));
    router.get("/metrics").handler(this::metrics);
    router.route("/v1/*").handler(this::authorize);
    router.post("/v1/guests/:guest/commands/:command").handler(this::command);
    router.put("/v1/guests/:guest/files").handler(this::upload);
    router.get("/v1/guests").handler(ctx -> guests(ctx, new JsonObject()));
    router.get("/v1/guests/:guest").handler(ctx ->
        guests(ctx, new JsonObject().put("guest", ctx.pathParam("guest"))));
    router.route().last().handler(ctx -> error(ctx, 404, null, "no such endpoint: "
        + ctx.request().method() + " " + ctx.request().path()));
    router.errorHandler(500, ctx -> error(ctx, 500, null, "internal error"));

    return ServerTls.load(vertx, config.tls())
        .compose(loaded -> {
          tls = loaded;
          server = vertx.createHttpServer(tls == null ? new HttpServerOptions()
              : tls.applyTo(new HttpServerOptions()));
          return server.requestHandler(router).listen(config.port(), config.host());
        })
        .onSuccess(s -> {
          if (tls != null) {
            tls.watch(server::updateSSLOptions);
          }
          health.httpUp();
        });
  }

  @Override
  public Future<?> stop() {
    if (tls != null) {
      tls.close();
    }
    return server == null ? Future.succeededFuture() : server.close();
  }

  private void metrics(RoutingContext ctx) {
    if (prometheus == null) {
      error(ctx, 404, null, "metrics are disabled (metrics.enabled: false)");
      return;
    }
    ctx.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .end(prometheus.scrape());
  }

  /**
   * Authenticates the caller (a bearer token, else a verified client certificate) and keeps its
   * principal for the bus request; the member holding the guest decides what it may do.
   */
  private void authorize(RoutingContext ctx) {
    HttpServerRequest request = ctx.request();
    if (request.headers().contains(Principal.HEADER)) {
      guard.refusedIdentityHeader();
      error(ctx, Codes.BAD_REQUEST, null, Principal.HEADER
          + ": set by the gateway only, never by a caller");
      return;
    }
    Future<Principal> principal = guard.authenticate(request.getHeader(HttpHeaders.AUTHORIZATION),
        request.isSSL() ? request.sslSession() : null);
    // tokens and JWTs are checked at once; a check that answers later must not let body bytes
    // arrive before the handler that reads them is set (POST and PUT resume once it is)
    boolean held = !principal.isComplete();
    if (held) {
      request.pause();
    }
    principal.onComplete(ar -> {
      if (ar.succeeded()) {
        ctx.put(PRINCIPAL, ar.result());
        ctx.next();
        if (held && request.method() == HttpMethod.GET) {
          request.resume();
        }
        return;
      }
      ReplyException failure = Failures.normalize(ar.cause());
      if (failure.failureCode() == Codes.UNAUTHORIZED) {
        ctx.response().putHeader("WWW-Authenticate", "Bearer");
      }
      error(ctx, failure.failureCode(), null, failure.getMessage());
    });
  }

  /**
   * {@code /v1/guests/a/../b/...} would be normalised and served as another path: a request
   * whose path has a dot segment (also percent-encoded) is refused instead.
   */
  private void refuseDotSegments(RoutingContext ctx) {
    if (StrictJson.hasDotSegment(ctx.request().path())) {
      error(ctx, Codes.BAD_REQUEST, null, "the path has a '.' or '..' segment");
    } else {
      ctx.next();
    }
  }

  private void command(RoutingContext ctx) {
    String suffix = ctx.pathParam("command");
    CommandSpec spec = catalog.byAddress(suffix).orElse(null);
    if (spec == null || spec.kind() == CommandSpec.Kind.CLUSTER) {
      error(ctx, Codes.BAD_REQUEST, null, "unknown command: " + suffix);
      return;
    }
    JsonObject body = new JsonObject().put("guest", ctx.pathParam("guest"));
    long timeoutMs = timeoutMs(ctx);
    if (timeoutMs == ANSWERED) {
      return;
    }
    if (timeoutMs > 0) {
      body.put("timeoutMs", timeoutMs);
    }
    String autoThaw = ctx.queryParams().get("autoThawMs");
    if (autoThaw != null) {
      try {
        body.put("autoThawMs", Long.parseLong(autoThaw));
      } catch (NumberFormatException e) {
        error(ctx, Codes.BAD_REQUEST, null, "autoThawMs: expected a whole number");
        return;
      }
    }
    // the exchange's hold on the body's bytes; the command takes one of its own
    BodyBudget.Lease lease = budget.lease();
    ctx.addEndHandler(ar -> lease.release());
    BufferedBody.read(vertx, ctx.request(), config.maxBodyBytes(), lease, budget,
        config.bodyIdleTimeoutMs()).onComplete(read -> {
      if (read.failed()) {
        Replies.refused(ctx, read.cause());
        return;
      }
      String problem = putArguments(spec, body, read.result());
      if (problem != null) {
        error(ctx, Codes.BAD_REQUEST, null, problem);
        return;
      }
      lease.hold();
      send(ctx, spec.address(), body, LOCAL_SEND_TIMEOUT_MS)
          .onComplete(answered -> lease.release());
    });
  }

  /**
   * Puts the body's arguments into the bus request; the raw bytes are not kept. Returns what is
   * wrong with the body, or null.
   */
  private static String putArguments(CommandSpec spec, JsonObject body, Buffer raw) {
    if (raw.length() == 0) {
      return null;
    }
    Object arguments;
    try {
      StrictJson.check(raw);
      arguments = raw.toJsonValue();
    } catch (DecodeException e) {
      if (e.getCause() instanceof StreamConstraintsException tooLong) {
        return "body is not accepted as JSON: " + tooLong.getOriginalMessage()
            + "; stream large files with PUT /v1/guests/{guest}/files";
      }
      return "body is not valid JSON";
    }
    if (!(arguments instanceof JsonObject args)) {
      return "body must be a JSON object (the command's arguments)";
    }
    if (spec.kind() == CommandSpec.Kind.PASSTHROUGH) {
      // agent.command takes {"execute", "arguments"}: the body is that pair
      Object execute = args.remove("execute");
      body.put("execute", execute);
      if (args.getValue("arguments") != null) {
        body.put("arguments", args.getValue("arguments"));
        args.remove("arguments");
      }
      if (!args.isEmpty()) {
        return args.fieldNames().iterator().next()
            + ": unknown field (agent.command takes execute and arguments)";
      }
    } else {
      body.put("arguments", args);
    }
    return null;
  }

  /** {@code PUT /v1/guests/{guest}/files?path=P&mode=w|a&timeoutMs=N}: see StreamedUpload. */
  private void upload(RoutingContext ctx) {
    String path = ctx.queryParams().get("path");
    if (path == null || path.isEmpty()) {
      error(ctx, Codes.BAD_REQUEST, null, "path: required (the guest file to write)");
      return;
    }
    String mode = ctx.queryParams().get("mode");
    if (mode == null) {
      mode = "w";
    } else if (!mode.equals("w") && !mode.equals("a")) {
      error(ctx, Codes.BAD_REQUEST, null, "mode: expected w or a");
      return;
    }
    long timeoutMs = timeoutMs(ctx);
    if (timeoutMs == ANSWERED) {
      return;
    }
    new StreamedUpload(ctx, budget, config.maxUploadBytes(), config.bodyIdleTimeoutMs(),
        (address, body) -> request(ctx, address, body, LOCAL_SEND_TIMEOUT_MS), path,
        timeoutMs > 0 ? timeoutMs : null)
        .start(mode);
  }

  /**
   * The {@code timeoutMs} query parameter, 0 when absent; {@link #ANSWERED} when it is malformed
   * and the 400 has been sent.
   */
  private static long timeoutMs(RoutingContext ctx) {
    String timeoutParam = ctx.queryParams().get("timeoutMs");
    if (timeoutParam == null) {
      return 0;
    }
    long timeoutMs;
    try {
      timeoutMs = Long.parseLong(timeoutParam);
    } catch (NumberFormatException e) {
      timeoutMs = -1;
    }
    if (timeoutMs < 1 || timeoutMs > CommandCatalog.MAX_TIMEOUT_MS) {
      error(ctx, Codes.BAD_REQUEST, null, "timeoutMs: expected 1.."
          + CommandCatalog.MAX_TIMEOUT_MS);
      return ANSWERED;
    }
    return timeoutMs;
  }

  private void guests(RoutingContext ctx, JsonObject body) {
    send(ctx, Addresses.GUESTS, body, GUESTS_TIMEOUT_MS);
  }

  /** Sends the request and answers with its reply; the future completes once answered. */
  private Future<JsonObject> send(RoutingContext ctx, String address, JsonObject body,
                                  long sendTimeoutMs) {
    return request(ctx, address, body, sendTimeoutMs)
        .onSuccess(reply -> json(ctx, 200, reply))
        .onFailure(failure -> Replies.failure(ctx, failure, ""));
  }

  private Future<JsonObject> request(RoutingContext ctx, String address, JsonObject body,
                                     long sendTimeoutMs) {
    Principal principal = ctx.get(PRINCIPAL);
    DeliveryOptions options = new DeliveryOptions().setSendTimeout(sendTimeoutMs)
        .addHeader(GuestEndpoint.CALLER_HEADER, "http:" + ctx.request().remoteAddress())
        .addHeader(Principal.HEADER, principal.toHeader());
    // this member's own dispatcher: a member that died unannounced cannot swallow the request
    String own = Addresses.local(address);
    return vertx.eventBus().<JsonObject>request(own, body, options).map(Message::body);
  }

  private static void error(RoutingContext ctx, int code, String agentClass, String message) {
    Replies.error(ctx, code, agentClass, message);
  }

  private static void json(RoutingContext ctx, int status, JsonObject body) {
    Replies.json(ctx, status, body);
  }
}
