package io.qgagateway.commands;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Failures;
import io.qgagateway.auth.Principal;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

/**
 * This member's entry for JVM callers on the clustered event bus
 * ({@link io.qgagateway.client.GatewayClient}): {@code qga.entry.<node id>} takes a request
 * for the public address named in its {@code address} header and hands it to this member's
 * dispatcher as the TCP bridge does ({@link MemberEntry}). The caller chose this member because
 * it answers, and knows when it stops answering; the public {@code agent.X}, by contrast, is
 * handed by the caller's Vert.x to any member, a hung one included.
 */
public final class EntryVerticle extends VerticleBase {

  /** The header naming the public address a request is for. */
  public static final String ADDRESS_HEADER = "address";
  private static final Logger log = LoggerFactory.getLogger(EntryVerticle.class);

  private final String nodeId;
  private final CommandRules rules;
  private final GatewayMetrics metrics;
  private MessageConsumer<Object> consumer;

  public EntryVerticle(String nodeId, CommandRules rules, GatewayMetrics metrics) {
    this.nodeId = nodeId;
    this.rules = rules;
    this.metrics = metrics;
  }

  @Override
  public Future<?> start() {
    consumer = vertx.eventBus().consumer(Addresses.entry(nodeId), this::enter);
    return consumer.completion();
  }

  private void enter(Message<Object> message) {
    String address = message.headers().get(ADDRESS_HEADER);
    if (message.replyAddress() == null) {
      metrics.refused(GatewayMetrics.Refusal.NO_REPLY);
      log.warn("request without reply address to " + address + " through " + message.address()
          + " refused: nothing runs for a request nobody can be answered");
      return;
    }
    ReplyException refused = MemberEntry.refusal(rules.catalog(), address);
    if (refused != null) {
      message.fail(refused.failureCode(), refused.getMessage());
      return;
    }
    String caller = message.headers().get(GuestEndpoint.CALLER_HEADER);
    // an event-bus caller, as on agent.X: its principal header, else the bus principal
    MemberEntry.dispatch(vertx, address, message.body(), caller == null ? "jvm" : caller,
        message.headers().get(Principal.HEADER), MemberEntry.LOCAL_SEND_TIMEOUT_MS)
        .onComplete(ar -> {
          if (ar.succeeded()) {
            message.reply(ar.result());
          } else {
            // plain code and message: the caller's Vert.x need not know the gateway's codec
            Failures.reply(message, ar.cause(), false);
          }
        });
  }

  @Override
  public Future<?> stop() {
    return consumer == null ? Future.succeededFuture() : consumer.unregister();
  }
}
