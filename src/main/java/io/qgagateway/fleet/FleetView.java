package io.qgagateway.fleet;

import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which node holds which guest, across the cluster. Local guests are known at once; other
 * nodes' come from their announcements and vanish when a node stops announcing, so a member
 * that leaves takes its guests with it within a few announcement intervals.
 */
public final class FleetView {

  private static final Logger log = LoggerFactory.getLogger(FleetView.class);

  /**
   * What one other node last said it holds.
   *
   * @param stopped libvirt domains of that node that shut off lately, with the reason
   */
  public record RemoteNode(String id, String name, Set<String> guests, long expiresAtMillis,
                           Map<String, String> stopped) {

    public RemoteNode(String id, String name, Set<String> guests, long expiresAtMillis) {
      this(id, name, guests, expiresAtMillis, Map.of());
    }
  }

  private final NodeIdentity self;
  private final LocalGuests local;
  private final Map<String, RemoteNode> remotes = new ConcurrentHashMap<>();
  private final Set<String> reportedConflicts = ConcurrentHashMap.newKeySet();

  public FleetView(NodeIdentity self, LocalGuests local) {
    this.self = self;
    this.local = local;
  }

  public NodeIdentity self() {
    return self;
  }

  public LocalGuests local() {
    return local;
  }

  /** Records an announcement; returns the names also held elsewhere, for reporting. */
  public void announced(RemoteNode node) {
    if (node.id().equals(self.id())) {
      return;
    }
    remotes.put(node.id(), node);
    for (String guest : node.guests()) {
      List<String> holders = holders(guest);
      if (holders.size() > 1) {
        String key = guest + "@" + String.join(",", holders);
        if (reportedConflicts.add(key)) {
          log.warn("guest " + guest + " is held by more than one node: " + holders
              + "; requests go to " + holders.get(0));
        }
      }
    }
  }

  public void left(String nodeId) {
    remotes.remove(nodeId);
  }

  public void expire(long nowMillis) {
    remotes.values().removeIf(n -> n.expiresAtMillis() < nowMillis);
  }

  public List<RemoteNode> remoteNodes() {
    return new ArrayList<>(remotes.values());
  }

  /**
   * Every node holding the guest: this node first (its link is the cheapest and the one the
   * operator on this host means), then the others by id, so all nodes route alike.
   */
  public List<String> holders(String guest) {
    List<String> out = new ArrayList<>();
    if (local.contains(guest)) {
      out.add(self.id());
    }
    remotes.values().stream()
        .filter(n -> n.guests().contains(guest))
        .map(RemoteNode::id)
        .sorted()
        .forEach(out::add);
    return out;
  }

  /**
   * Why a guest no member holds cannot take commands, when it is a libvirt domain that shut off
   * lately on this member or another; empty otherwise (then it is unknown: 404).
   */
  public Optional<String> stoppedReason(String guest) {
    var here = local.stopped(guest);
    if (here != null) {
      return Optional.ofNullable(here.getString("lastError"));
    }
    for (RemoteNode n : remotes.values()) {
      String reason = n.stopped().get(guest);
      if (reason != null) {
        return Optional.of(reason + " (on " + n.name() + ")");
      }
    }
    return Optional.empty();
  }

  /** The node to send a guest's requests to: the first of {@link #holders}, without the list. */
  public Optional<String> route(String guest) {
    if (local.contains(guest)) {
      return Optional.of(self.id());
    }
    String first = null;
    for (RemoteNode n : remotes.values()) {
      if (n.guests().contains(guest) && (first == null || n.id().compareTo(first) < 0)) {
        first = n.id();
      }
    }
    return Optional.ofNullable(first);
  }
}
