package io.qgagateway.fleet;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.auth.AccessRules;
import io.qgagateway.auth.Principal;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Keeps the fleet view current (through its {@link FleetStore}) and serves {@code agent.guests}.
 * Who holds which guest is known locally; details (state, agent, queue) are asked of each holding
 * member only when someone lists guests, with a short time limit, so a dead or hung member costs
 * the listing at most that limit: its guests are listed from the record, marked as not described.
 */
public final class FleetVerticle extends VerticleBase {

  private static final long TICK_MS = 1_000;

  private final FleetView view;
  private final FleetStore store;
  private final Supplier<AccessRules> access;
  private final long listingTimeoutMs;
  private long timer = -1;

  /** @param access the grants in force (they change with the configuration) */
  public FleetVerticle(FleetView view, FleetStore store, Supplier<AccessRules> access,
                       long listingTimeoutMs) {
    this.view = view;
    this.access = access;
    this.store = store;
    this.listingTimeoutMs = listingTimeoutMs;
  }

  static String describeAddress(String nodeId) {
    return "qga.fleet.node." + nodeId + ".describe";
  }

  @Override
  public Future<?> start() {
    var bus = vertx.eventBus();
    var describe = bus.<JsonObject>consumer(describeAddress(view.self().id()), m -> {
      if (m.replyAddress() != null) {
        m.reply(new JsonObject().put("guests", describeLocal(m.body().getString("guest"))));
      }
    });
    var guests = bus.<Object>consumer(Addresses.GUESTS, this::onGuests);
    var localGuests = bus.<Object>localConsumer(Addresses.local(Addresses.GUESTS),
        this::onGuests);
    return Future.all(List.of(describe.completion(), guests.completion(),
            localGuests.completion()))
        .compose(v -> store.start())
        .onSuccess(v -> timer = vertx.setPeriodic(TICK_MS,
            id -> store.tick(System.currentTimeMillis())));
  }

  @Override
  public Future<?> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return store.stop();
  }

  private JsonArray describeLocal(String only) {
    JsonArray out = new JsonArray();
    for (LinkVerticle v : view.local().all()) {
      if (v.link() != null && (only == null || only.equals(v.target().name()))) {
        out.add(LocalGuests.describe(v, view.self()));
      }
    }
    // libvirt domains of this member that shut off lately
    for (JsonObject stopped : view.local().allStopped()) {
      String name = stopped.getString("name");
      if ((only == null || only.equals(name)) && !view.local().contains(name)) {
        out.add(stopped.copy().put("node", view.self().id()).put("nodeName", view.self().name()));
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
    // a principal lists the guests it holds a class on; another's guest is "no guest", so the
    // listing tells nobody what exists beyond their grants
    AccessRules grants = access.get();
    Principal principal = grants.principal(message.headers().get(Principal.HEADER));
    List<Future<JsonArray>> parts = new ArrayList<>();
    parts.add(Future.succeededFuture(describeLocal(filter)));
    for (FleetView.Node node : view.nodes()) {
      Set<String> held = view.guestsOf(node.id());
      if (held.isEmpty() || (filter != null && !held.contains(filter))) {
        continue;
      }
      if (!node.live()) {
        parts.add(Future.succeededFuture(undescribed(node, held, filter, "held by " + node.name()
            + ", unreachable: it " + node.why() + " at "
            + Instant.ofEpochMilli(node.unreachableSinceMillis()))));
        continue;
      }
      parts.add(vertx.eventBus()
          .<JsonObject>request(describeAddress(node.id()), new JsonObject().put("guest", filter),
              new DeliveryOptions().setSendTimeout(listingTimeoutMs))
          .map(reply -> reply.body().getJsonArray("guests", new JsonArray()))
          // a member that does not answer in time is listed from the record
          .otherwise(e -> undescribed(node, held, filter, node.name() + " did not answer within "
              + listingTimeoutMs + " ms")));
    }
    Future.join(parts).onComplete(ar -> {
      List<JsonObject> all = new ArrayList<>();
      for (Future<JsonArray> part : parts) {
        if (part.succeeded()) {
          part.result().forEach(g -> {
            if (grants.lists(principal, ((JsonObject) g).getString("name"))) {
              all.add((JsonObject) g);
            }
          });
        }
      }
      if (filter != null && all.isEmpty()) {
        message.fail(Codes.UNKNOWN_GUEST, "no guest " + filter + " in the cluster");
        return;
      }
      message.reply(new JsonObject().put("guests", annotate(all)));
    });
  }

  /** Entries for guests whose holder could not be asked: what the record says, and why. */
  private static JsonArray undescribed(FleetView.Node node, Set<String> held, String filter,
                                       String why) {
    JsonArray out = new JsonArray();
    for (String name : held) {
      if (filter == null || filter.equals(name)) {
        JsonObject entry = new JsonObject().put("name", name).put("node", node.id())
            .put("nodeName", node.name()).put("state", "disconnected").put("described", false)
            .put("lastError", why);
        if (!node.live()) {
          entry.put("unreachableSince",
              Instant.ofEpochMilli(node.unreachableSinceMillis()).toString());
        }
        out.add(entry);
      }
    }
    return out;
  }

  /**
   * Sorts by name then node, and adds what the cluster knows: {@code reachable} (false when the
   * holder left the cluster), and for a name held by more than one member {@code conflict} and
   * {@code routed} (whether requests for the name go to this entry's holder).
   */
  private JsonArray annotate(List<JsonObject> entries) {
    entries.sort((a, b) -> {
      int byName = a.getString("name").compareTo(b.getString("name"));
      return byName != 0 ? byName : a.getString("node").compareTo(b.getString("node"));
    });
    JsonArray out = new JsonArray();
    for (JsonObject e : entries) {
      String name = e.getString("name");
      FleetView.Node holder = view.node(e.getString("node"));
      e.put("reachable", holder == null || holder.live());
      List<FleetView.Node> holders = view.holders(name);
      if (holders.size() > 1) {
        e.put("conflict", true);
        FleetView.Node first = holders.get(0);
        e.put("routed", first.live() && first.id().equals(e.getString("node")));
      }
      out.add(e);
    }
    return out;
  }
}
