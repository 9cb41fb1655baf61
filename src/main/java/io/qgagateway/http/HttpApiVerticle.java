package io.qgagateway.http;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.commands.CommandCatalog;
import io.qgagateway.commands.CommandSpec;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * The HTTP API of API.md section 4. Commands go through the event bus to the same
 * {@code agent.*} addresses as every other caller, so codes, policy and metrics are the same.
 */
public final class HttpApiVerticle extends VerticleBase {

  /** Big enough for a file-put of a few tens of MiB in base64. */
  static final long MAX_BODY_BYTES = 64L * 1024 * 1024;
  /**
   * A safety net only: the member's own dispatcher resolves each request's deadline (the
   * executed command's default, from the configuration in force) and answers by it.
   */
  private static final long LOCAL_SEND_TIMEOUT_MS = CommandCatalog.MAX_TIMEOUT_MS + 60_000;
  /** What the fleet listing may take. */
  private static final long GUESTS_TIMEOUT_MS = 5_000;

  private final GatewayConfig.Http config;
  private final CommandCatalog catalog;
  private final PrometheusMeterRegistry prometheus;
  private final Health health;
  private HttpServer server;

  public HttpApiVerticle(GatewayConfig.Http config, CommandCatalog catalog,
                         PrometheusMeterRegistry prometheus, Health health) {
    this.config = config;
    this.catalog = catalog;
    this.prometheus = prometheus;
    this.health = health;
  }

  /** The port actually bound (useful with port 0). */
  public int port() {
    return server.actualPort();
  }

  @Override
  public Future<?> start() {
    Router router = Router.router(vertx);
    router.get("/health/live").handler(ctx -> json(ctx, 200, new JsonObject().put("status", "UP")));
    router.get("/health/ready").handler(ctx -> json(ctx, health.ready() ? 200 : 503,
        health.readiness()));
    router.get("/metrics").handler(this::metrics);
    router.route("/v1/*").handler(this::authorize);
    router.post("/v1/guests/:guest/commands/:command")
        .handler(BodyHandler.create(false).setBodyLimit(MAX_BODY_BYTES))
        .handler(this::command);
    router.get("/v1/guests").handler(ctx -> guests(ctx, new JsonObject()));
    router.get("/v1/guests/:guest").handler(ctx ->
        guests(ctx, new JsonObject().put("guest", ctx.pathParam("guest"))));
    router.route().last().handler(ctx -> error(ctx, 404, null, "no such endpoint: "
        + ctx.request().method() + " " + ctx.request().path()));
    router.errorHandler(413, ctx -> error(ctx, 413, null, "request body larger than "
        + MAX_BODY_BYTES + " bytes"));
    router.errorHandler(500, ctx -> error(ctx, 500, null, "internal error"));

    server = vertx.createHttpServer();
    return server.requestHandler(router).listen(config.port(), config.host())
        .onSuccess(s -> health.httpUp());
  }

  @Override
  public Future<?> stop() {
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

  private void authorize(RoutingContext ctx) {
    String token = config.token();
    if (token == null) {
      ctx.next();
      return;
    }
    String header = ctx.request().getHeader("Authorization");
    String given = header != null && header.startsWith("Bearer ") ? header.substring(7) : "";
    // constant time, so response timing does not reveal how much of a guess was right
    if (MessageDigest.isEqual(token.getBytes(StandardCharsets.UTF_8),
        given.getBytes(StandardCharsets.UTF_8))) {
      ctx.next();
    } else {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
      error(ctx, Codes.UNAUTHORIZED, null, "missing or wrong bearer token");
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
    Buffer raw = ctx.body().buffer();
    if (raw != null && raw.length() > 0) {
      Object arguments;
      try {
        arguments = raw.toJsonValue();
      } catch (DecodeException e) {
        error(ctx, Codes.BAD_REQUEST, null, "body is not valid JSON");
        return;
      }
      if (!(arguments instanceof JsonObject args)) {
        error(ctx, Codes.BAD_REQUEST, null, "body must be a JSON object (the command's arguments)");
        return;
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
          error(ctx, Codes.BAD_REQUEST, null, args.fieldNames().iterator().next()
              + ": unknown field (agent.command takes execute and arguments)");
          return;
        }
      } else {
        body.put("arguments", args);
      }
    }
    String timeoutParam = ctx.queryParams().get("timeoutMs");
    if (timeoutParam != null) {
      long timeoutMs;
      try {
        timeoutMs = Long.parseLong(timeoutParam);
      } catch (NumberFormatException e) {
        timeoutMs = -1;
      }
      if (timeoutMs < 1 || timeoutMs > CommandCatalog.MAX_TIMEOUT_MS) {
        error(ctx, Codes.BAD_REQUEST, null, "timeoutMs: expected 1.."
            + CommandCatalog.MAX_TIMEOUT_MS);
        return;
      }
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
    send(ctx, spec.address(), body, LOCAL_SEND_TIMEOUT_MS);
  }

  private void guests(RoutingContext ctx, JsonObject body) {
    send(ctx, Addresses.GUESTS, body, GUESTS_TIMEOUT_MS);
  }

  private void send(RoutingContext ctx, String address, JsonObject body, long sendTimeoutMs) {
    DeliveryOptions options = new DeliveryOptions().setSendTimeout(sendTimeoutMs)
        .addHeader("caller", "http:" + ctx.request().remoteAddress());
    // this member's own dispatcher: a member that died unannounced cannot swallow the request
    String own = Addresses.local(address);
    vertx.eventBus().<JsonObject>request(own, body, options).onComplete(ar -> {
      if (ar.succeeded()) {
        json(ctx, 200, ar.result().body());
      } else {
        ReplyException failure = Failures.normalize(ar.cause());
        String message = failure.getMessage() == null ? "" : failure.getMessage();
        String agentClass = failure instanceof GatewayFailure g ? g.agentClass() : null;
        error(ctx, failure.failureCode(), agentClass, message);
      }
    });
  }

  private static void error(RoutingContext ctx, int code, String agentClass, String message) {
    JsonObject error = new JsonObject().put("code", code);
    if (agentClass != null) {
      error.put("class", agentClass);
    }
    error.put("message", message);
    json(ctx, code, new JsonObject().put("error", error));
  }

  private static void json(RoutingContext ctx, int status, JsonObject body) {
    if (ctx.response().ended()) {
      return;
    }
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json")
        .end(body.encode());
  }
}
