package io.qgagateway.fleet;

import io.qgagateway.api.Addresses;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.LinkObserver;
import io.qgagateway.link.ResyncReason;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.time.Instant;

/** Publishes the events of API.md section 3 on {@code agent.events}. */
public final class GuestEvents implements LinkObserver {

  private final Vertx vertx;
  private final NodeIdentity node;

  public GuestEvents(Vertx vertx, NodeIdentity node) {
    this.vertx = vertx;
    this.node = node;
  }

  public void publish(String type, String guest, JsonObject extra) {
    JsonObject event = new JsonObject()
        .put("type", type)
        .put("guest", guest)
        .put("node", node.id())
        .put("time", Instant.now().toString());
    if (extra != null) {
      event.mergeIn(extra);
    }
    vertx.eventBus().publish(Addresses.EVENTS, event);
  }

  @Override
  public void connected(AgentChannel link) {
    publish("connected", link.name(), null);
  }

  @Override
  public void disconnected(AgentChannel link, String reason) {
    publish("disconnected", link.name(), new JsonObject().put("reason", reason));
  }

  @Override
  public void resynced(AgentChannel link, ResyncReason reason, long nanos) {
    publish("resynced", link.name(), new JsonObject().put("reason", reason.eventName())
        .put("rttMicros", nanos / 1000));
  }
}
