package io.qgagateway.fleet;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Keeps the fleet view current and serves {@code agent.guests}. Each node announces the names
 * it holds every {@code announceMs}; details (state, agent, queue) are asked of the holding
 * node only when someone lists guests, so announcements stay small with 10,000 guests a node.
 */
public final class FleetVerticle extends VerticleBase {

  /** Missed announcements after which a node counts as gone. */
  private static final int MISSED_ANNOUNCEMENTS = 3;

  private final FleetView view;
  private final long announceMs;
  private MessageConsumer<JsonObject> announcements;

  public FleetVerticle(FleetView view, long announceMs) {
    this.view = view;
    this.announceMs = announceMs;
  }

  static String describeAddress(String nodeId) {
    return "qga.fleet.node." + nodeId + ".describe";
  }

  @Override
  public Future<?> start() {
    var bus = vertx.eventBus();
    announcements = bus.consumer(Addresses.FLEET_ANNOUNCE, this::onAnnouncement);
    var describe = bus.<JsonObject>consumer(describeAddress(view.self().id()),
        m -> m.reply(new JsonObject().put("guests", describeLocal(m.body().getString("guest")))));
    var guests = bus.<Object>consumer(Addresses.GUESTS, this::onGuests);
    var localGuests = bus.<Object>localConsumer(Addresses.local(Addresses.GUESTS),
        this::onGuests);
    vertx.setPeriodic(0, announceMs, id -> {
      view.expire(System.currentTimeMillis());
      announce(false);
    });
    return Future.all(List.of(announcements.completion(), describe.completion(),
        guests.completion(), localGuests.completion()));
  }

  @Override
  public Future<?> stop() {
    // our own consumer goes first, so the farewell is not delivered to a closing handler
    return announcements.unregister().onComplete(ar -> announce(true));
  }

  private void announce(boolean leaving) {
    JsonObject message = new JsonObject()
        .put("node", view.self().id())
        .put("nodeName", view.self().name())
        .put("leaving", leaving);
    if (!leaving) {
      JsonArray names = new JsonArray();
      view.local().all().forEach(v -> names.add(v.target().name()));
      message.put("guests", names);
    }
    vertx.eventBus().publish(Addresses.FLEET_ANNOUNCE, message);
  }

  private void onAnnouncement(Message<JsonObject> message) {
    JsonObject body = message.body();
    String node = body.getString("node");
    if (node == null || node.equals(view.self().id())) {
      return;
    }
    if (body.getBoolean("leaving", false)) {
      view.left(node);
      return;
    }
    Set<String> names = new HashSet<>();
    JsonArray guests = body.getJsonArray("guests", new JsonArray());
    for (Object g : guests) {
      if (g instanceof String s) {
        names.add(s);
      }
    }
    view.announced(new FleetView.RemoteNode(node, body.getString("nodeName", node), names,
        System.currentTimeMillis() + MISSED_ANNOUNCEMENTS * announceMs + announceMs / 2));
  }

  private JsonArray describeLocal(String only) {
    JsonArray out = new JsonArray();
    for (LinkVerticle v : view.local().all()) {
      if (v.link() != null && (only == null || only.equals(v.target().name()))) {
        out.add(LocalGuests.describe(v, view.self()));
      }
    }
    return out;
  }

  private void onGuests(Message<Object> message) {
    if (message.replyAddress() == null) {
      return;  // a publish: nobody to answer
    }
    String only = null;
    if (message.body() instanceof JsonObject body) {
      for (String key : body.fieldNames()) {
        if (!key.equals("guest")) {
          message.fail(Codes.BAD_REQUEST, key + ": unknown field (agent.guests takes {} or "
              + "{\"guest\": NAME})");
          return;
        }
      }
      Object guest = body.getValue("guest");
      if (guest != null) {
        if (!(guest instanceof String s) || !GuestTarget.validName(s)) {
          message.fail(Codes.BAD_REQUEST, "guest: must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");
          return;
        }
        only = s;
      }
    } else if (message.body() != null) {
      message.fail(Codes.BAD_REQUEST, "body must be a JSON object");
      return;
    }
    String filter = only;
    List<Future<JsonArray>> parts = new ArrayList<>();
    parts.add(Future.succeededFuture(describeLocal(filter)));
    for (FleetView.RemoteNode node : view.remoteNodes()) {
      if (filter != null && !node.guests().contains(filter)) {
        continue;
      }
      parts.add(vertx.eventBus()
          .<JsonObject>request(describeAddress(node.id()), new JsonObject().put("guest", filter),
              new DeliveryOptions().setSendTimeout(2000))
          .map(reply -> reply.body().getJsonArray("guests", new JsonArray()))
          // a node that does not answer in time still shows what it announced
          .otherwise(e -> unreachable(node, filter)));
    }
    Future.join(parts).onComplete(ar -> {
      JsonArray all = new JsonArray();
      for (Future<JsonArray> part : parts) {
        if (part.succeeded()) {
          all.addAll(part.result());
        }
      }
      if (filter != null && all.isEmpty()) {
        message.fail(Codes.UNKNOWN_GUEST, "no guest " + filter + " in the cluster");
        return;
      }
      message.reply(new JsonObject().put("guests", sortByName(all)));
    });
  }

  private static JsonArray unreachable(FleetView.RemoteNode node, String filter) {
    JsonArray out = new JsonArray();
    for (String name : node.guests()) {
      if (filter == null || filter.equals(name)) {
        out.add(new JsonObject().put("name", name).put("node", node.id())
            .put("nodeName", node.name()).put("state", "disconnected")
            .put("lastError", "node " + node.name() + " did not answer"));
      }
    }
    return out;
  }

  private static JsonArray sortByName(JsonArray guests) {
    List<JsonObject> list = new ArrayList<>();
    guests.forEach(g -> list.add((JsonObject) g));
    list.sort((a, b) -> {
      int byName = a.getString("name").compareTo(b.getString("name"));
      return byName != 0 ? byName : a.getString("node").compareTo(b.getString("node"));
    });
    return new JsonArray(new ArrayList<>(list));
  }
}
