package io.qgagateway.http;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.auth.Principal;
import io.qgagateway.commands.CommandCatalog;
import io.qgagateway.commands.CommandSpec;
import io.qgagateway.commands.GuestEndpoint;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.metrics.GatewayMetrics;
import io.qgagateway.tls.ServerTls;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.parsetools.RecordParser;

import javax.net.ssl.SSLSession;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The TCP event-bus bridge of API.md section 5: Vert.x's framing (4-byte big-endian length + a
 * JSON object) and frame types ({@code send}, {@code publish}, {@code register},
 * {@code unregister}, {@code ping}; {@code message}, {@code err}, {@code pong} back), served by
 * the gateway itself so that it can keep the contract's promises the stock bridge cannot:
 * <ul>
 *   <li>a request is dispatched by the member the client is connected to (its member-local
 *   {@code qga.local.agent.X}, as HTTP does), never handed to whichever member Vert.x picks, so
 *   a member that died unannounced cannot swallow it;</li>
 *   <li>it is answered by its own deadline, not by the bus's 30 s default send timeout;</li>
 *   <li>a publish (or a send without reply address) to {@code agent.*} runs nothing: a command
 *   runs only for a request that can be answered; the client gets an error frame;</li>
 *   <li>every error frame carries a {@code failureCode} of the contract.</li>
 * </ul>
 * Inbound: the public {@code agent.*} addresses; outbound: {@code agent.events}. Internal
 * addresses are outside both.
 *
 * <p>A client authenticates with {@code "headers": {"authorization": "Bearer <token>"}} on its
 * first frame (or any later one, to switch token), or with a client certificate once the bridge
 * speaks TLS; a frame before that gets an {@code err} frame with code 401 and runs nothing.
 * The principal goes with each request in {@link Principal#HEADER}; a frame that names a
 * principal or caller itself is refused.
 */
public final class BridgeVerticle extends VerticleBase {

  private static final Logger log = LoggerFactory.getLogger(BridgeVerticle.class);

  /** HTTP takes bodies up to 64 MiB; a frame carries the same and its envelope. */
  static final int MAX_FRAME_BYTES = 65 * 1024 * 1024;
  /** A safety net only: the member's dispatcher answers each request by its own deadline. */
  private static final long LOCAL_SEND_TIMEOUT_MS = CommandCatalog.MAX_TIMEOUT_MS + 60_000;
  static final String ACCESS_DENIED = "access_denied";
  /** The frame header a client authenticates with: {@code "Bearer <token>"}. */
  static final String AUTHORIZATION = "authorization";

  private final GatewayConfig.Bridge config;
  private final EntryGuard guard;
  private final CommandCatalog catalog;
  private final GatewayMetrics metrics;
  // held in a field: Vert.x 5.1 closes an unreferenced server on GC
  private NetServer server;
  private ServerTls tls;

  public BridgeVerticle(GatewayConfig.Bridge config, EntryGuard guard, CommandCatalog catalog,
                        GatewayMetrics metrics) {
    this.config = config;
    this.guard = guard;
    this.catalog = catalog;
    this.metrics = metrics;
  }

  /** The port actually bound (useful with port 0). */
  public int port() {
    return server.actualPort();
  }

  @Override
  public Future<?> start() {
    return ServerTls.load(vertx, config.tls())
        .compose(loaded -> {
          tls = loaded;
          server = vertx.createNetServer(tls == null ? new NetServerOptions()
                  : tls.applyTo(new NetServerOptions()))
              .connectHandler(socket -> new Connection(socket).start());
          return server.listen(config.port(), config.host());
        })
        .onSuccess(s -> {
          if (tls != null) {
            tls.watch(server::updateSSLOptions);
          }
        });
  }

  @Override
  public Future<?> stop() {
    if (tls != null) {
      tls.close();
    }
    return server == null ? Future.succeededFuture() : server.close();
  }

  /** One client: its frame parser and its registration for {@code agent.events}. */
  private final class Connection {
    private final NetSocket socket;
    private final String caller;
    private final RecordParser parser;
    private final Map<String, MessageConsumer<Object>> registered = new HashMap<>();
    private boolean expectLength = true;
    // the last Authorization header accepted: checked again on every frame, so a revoked
    // token stops working on open connections too
    private String authorization;

    Connection(NetSocket socket) {
      this.socket = socket;
      this.caller = "bridge:" + socket.remoteAddress();
      this.parser = RecordParser.newFixed(4, this::onRecord);
    }

    void start() {
      socket.handler(parser);
      socket.exceptionHandler(e -> socket.close());
      socket.closeHandler(v -> {
        registered.values().forEach(MessageConsumer::unregister);
        registered.clear();
      });
    }

    private void onRecord(Buffer record) {
      if (expectLength) {
        int length = record.getInt(0);
        if (length <= 0 || length > MAX_FRAME_BYTES) {
          // the stream cannot be re-framed after a bad length: say why and hang up
          refuse(null, null, Codes.BAD_REQUEST, "frame length " + length + " outside 1.."
              + MAX_FRAME_BYTES);
          socket.close();
          return;
        }
        expectLength = false;
        parser.fixedSizeMode(length);
        return;
      }
      expectLength = true;
      parser.fixedSizeMode(4);
      JsonObject frame;
      try {
        frame = new JsonObject(record.toString(StandardCharsets.UTF_8));
      } catch (DecodeException | ClassCastException e) {
        refuse(null, null, Codes.BAD_REQUEST, "invalid_frame: not a JSON object");
        return;
      }
      try {
        onFrame(frame);
      } catch (ClassCastException e) {
        refuse(null, null, Codes.BAD_REQUEST, "invalid_frame: " + e.getMessage());
      }
    }

    private void onFrame(JsonObject frame) {
      String type = frame.getString("type", "message");
      JsonObject headers = frame.getJsonObject("headers", new JsonObject());
      String address = frame.getString("address");
      String replyAddress = frame.getString("replyAddress");
      for (String name : headers.fieldNames()) {
        if (name.equalsIgnoreCase(Principal.HEADER)
            || name.equalsIgnoreCase(GuestEndpoint.CALLER_HEADER)) {
          guard.refusedIdentityHeader();
          refuse(address, replyAddress, Codes.BAD_REQUEST, "identity_header: " + name
              + " is set by the gateway only, never by a client");
          return;
        }
      }
      if ("ping".equals(type)) {
        write(new JsonObject().put("type", "pong"));
        return;
      }
      if (!type.equals("send") && !type.equals("publish") && !type.equals("register")
          && !type.equals("unregister")) {
        refuse(address, replyAddress, Codes.BAD_REQUEST, "unknown_type");
        return;
      }
      if (address == null) {
        refuse(null, replyAddress, Codes.BAD_REQUEST, "missing_address");
        return;
      }
      Object given = headers.getValue(AUTHORIZATION);
      String credentials = given instanceof String text ? text : authorization;
      Future<Principal> principal = guard.authenticate(credentials, tlsSession());
      // frames are handled in order: wait for a check that does not answer at once
      if (!principal.isComplete()) {
        parser.pause();
        principal.onComplete(ar -> parser.resume());
      }
      principal.onComplete(ar -> {
        if (ar.failed()) {
          authorization = null;
          ReplyException failure = Failures.normalize(ar.cause());
          refuse(address, replyAddress, failure.failureCode(),
              failure.failureCode() == Codes.UNAUTHORIZED ? "unauthenticated: "
                  + failure.getMessage() + " (send headers.authorization \"Bearer <token>\")"
                  : failure.getMessage());
          return;
        }
        authorization = credentials;
        switch (type) {
          case "send", "publish" -> inbound(type, address, replyAddress, frame.getValue("body"),
              ar.result());
          case "register" -> register(address);
          default -> unregister(address);
        }
      });
    }

    private SSLSession tlsSession() {
      return socket.isSsl() ? socket.sslSession() : null;
    }

    private void inbound(String type, String address, String replyAddress, Object body,
                         Principal principal) {
      if (!address.startsWith(Addresses.PUBLIC_PREFIX) || address.equals(Addresses.EVENTS)) {
        refuse(address, replyAddress, Codes.FORBIDDEN, ACCESS_DENIED);
        return;
      }
      String suffix = address.substring(Addresses.PUBLIC_PREFIX.length());
      CommandSpec spec = catalog.byAddress(suffix).orElse(null);
      if (spec == null) {
        refuse(address, replyAddress, Codes.BAD_REQUEST, "unknown command: " + suffix);
        return;
      }
      if (type.equals("publish") || replyAddress == null) {
        boolean publish = type.equals("publish");
        metrics.refused(publish ? GatewayMetrics.Refusal.PUBLISH : GatewayMetrics.Refusal.NO_REPLY);
        log.warn((publish ? "publish" : "send without replyAddress") + " to " + address
            + " from " + caller + " refused: nothing runs for a request nobody can be answered");
        refuse(address, replyAddress, Codes.BAD_REQUEST, (publish ? "publish" : "send without "
            + "replyAddress") + " to " + address + " refused: a command runs only for a request "
            + "that can be answered; use send with a replyAddress");
        return;
      }
      DeliveryOptions options = new DeliveryOptions().setSendTimeout(LOCAL_SEND_TIMEOUT_MS)
          .addHeader(GuestEndpoint.CALLER_HEADER, caller)
          .addHeader(Principal.HEADER, principal.toHeader());
      // this member's own dispatcher: the request cannot land on a member that died unannounced
      vertx.eventBus().<Object>request(Addresses.local(address), body, options)
          .onComplete(ar -> {
            if (ar.succeeded()) {
              write(new JsonObject().put("type", "message").put("address", replyAddress)
                  .put("headers", new JsonObject()).put("body", ar.result().body())
                  .put("send", true));
            } else {
              ReplyException failure = Failures.normalize(ar.cause());
              write(error(address, replyAddress, failure.failureCode(), failure.getMessage()));
            }
          });
    }

    private void register(String address) {
      if (!address.equals(Addresses.EVENTS)) {
        refuse(address, null, Codes.FORBIDDEN, ACCESS_DENIED);
        return;
      }
      if (registered.containsKey(address)) {
        return;
      }
      registered.put(address, vertx.eventBus().consumer(address, (Message<Object> m) ->
          write(new JsonObject().put("type", "message").put("address", m.address())
              .put("headers", new JsonObject()).put("body", m.body()).put("send", m.isSend()))));
    }

    private void unregister(String address) {
      if (!address.equals(Addresses.EVENTS)) {
        refuse(address, null, Codes.FORBIDDEN, ACCESS_DENIED);
        return;
      }
      MessageConsumer<Object> consumer = registered.remove(address);
      if (consumer == null) {
        refuse(address, null, Codes.BAD_REQUEST, "unknown_address");
      } else {
        consumer.unregister();
      }
    }

    private void refuse(String address, String replyAddress, int code, String message) {
      write(error(address, replyAddress, code, message));
    }

    private void write(JsonObject frame) {
      byte[] json = frame.encode().getBytes(StandardCharsets.UTF_8);
      socket.write(Buffer.buffer(4 + json.length).appendInt(json.length).appendBytes(json));
    }
  }

  /**
   * An error frame as Vert.x's bridge writes one for a failed request, with the contract's code:
   * {@code address} is the request's reply address (when it had one), so a client waiting on it
   * gets its answer.
   */
  static JsonObject error(String address, String replyAddress, int code, String message) {
    JsonObject frame = new JsonObject().put("type", "err");
    if (replyAddress != null) {
      frame.put("address", replyAddress);
    }
    if (address != null) {
      frame.put("sourceAddress", address);
    }
    return frame.put("failureCode", code).put("failureType", "RECIPIENT_FAILURE")
        .put("message", message);
  }
}
