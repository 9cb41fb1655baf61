package io.qgagateway.fleet;

import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.LinkVerticle;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** The guests whose links this node holds; read from any thread. */
public final class LocalGuests {

  /**
   * Told of every guest this member starts or stops holding, or that it lists as stopped, on the
   * thread that changes it; {@link #record} says what the guest is now.
   */
  public interface Listener {
    void changed(String name);
  }

  /**
   * What the fleet record says of a guest of this member: {@code ""} while its link is held,
   * the reason it cannot take commands for a libvirt domain that stopped lately, null when it
   * is neither.
   */
  public String record(String name) {
    if (links.containsKey(name)) {
      return "";
    }
    JsonObject s = stopped.get(name);
    return s == null ? null : s.getString("lastError", "domain " + name + " is not running");
  }

  private final Map<String, LinkVerticle> links = new ConcurrentHashMap<>();
  // libvirt domains that shut off lately: listed, and answered 503 with the reason, not 404
  private final Map<String, JsonObject> stopped = new ConcurrentHashMap<>();
  private volatile Listener listener;

  public void listener(Listener listener) {
    this.listener = listener;
  }

  public void put(String name, LinkVerticle verticle) {
    LinkVerticle before = links.put(name, verticle);
    if (before == null) {
      tell(name);
    }
  }

  public void remove(String name, LinkVerticle verticle) {
    if (links.remove(name, verticle)) {
      tell(name);
    }
  }

  private void tell(String name) {
    Listener l = listener;
    if (l != null) {
      l.changed(name);
    }
  }

  public Set<String> names() {
    return links.keySet();
  }

  public boolean contains(String name) {
    return links.containsKey(name);
  }

  public LinkVerticle get(String name) {
    return links.get(name);
  }

  public Collection<LinkVerticle> all() {
    return links.values();
  }

  public int size() {
    return links.size();
  }

  /** A guest that stopped: {@code entry} is its {@code agent.guests} entry without the node. */
  public void putStopped(String name, JsonObject entry) {
    stopped.put(name, entry.copy().put("name", name));
    tell(name);
  }

  public void removeStopped(String name) {
    if (stopped.remove(name) != null) {
      tell(name);
    }
  }

  /** This member's stopped guests with their reasons, for the fleet record. */
  public Map<String, String> stoppedReasons() {
    Map<String, String> out = new java.util.HashMap<>();
    for (String name : stopped.keySet()) {
      String reason = record(name);
      if (reason != null && !reason.isEmpty()) {
        out.put(name, reason);
      }
    }
    return out;
  }

  /** The entry of a guest that stopped lately, or null. */
  public JsonObject stopped(String name) {
    return stopped.get(name);
  }

  public Collection<JsonObject> allStopped() {
    return stopped.values();
  }

  /** One entry of {@code agent.guests} (API.md section 3). */
  public static JsonObject describe(LinkVerticle verticle, NodeIdentity node) {
    AgentChannel link = verticle.link();
    JsonObject info = link.agentInfo();
    JsonObject agent = null;
    if (info != null) {
      JsonArray commands = new JsonArray();
      if (info.getValue("supported_commands") instanceof JsonArray supported) {
        for (Object c : supported) {
          if (c instanceof JsonObject command && command.getBoolean("enabled", true)) {
            commands.add(command.getString("name"));
          }
        }
      }
      agent = new JsonObject().put("version", info.getValue("version")).put("commands", commands);
    }
    return new JsonObject()
        .put("name", link.name())
        .put("node", node.id())
        .put("nodeName", node.name())
        .put("transport", link.target().transport().label())
        .put("address", link.target().address())
        .put("state", link.state().label())
        .put("runState", link.runState())
        .put("released", link.released())
        .put("since", link.since().toString())
        .put("agent", agent)
        .put("replyMatching", link.replyMatching())
        .put("frozen", verticle.endpoint().frozen())
        .put("queued", link.queued())
        .put("lastError", link.lastError());
  }
}
