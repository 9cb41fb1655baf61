package io.qgagateway.fleet;

import io.qgagateway.link.LinkVerticle;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * Which member holds which guest, as this member knows it. Its own guests are in
 * {@link LocalGuests}; the others' come from the cluster-wide map of holdings (a
 * {@link FleetStore}), whether a member is alive from the cluster manager's membership events,
 * and whether it answers from the store's probe (a silent member takes no requests until it
 * answers again, without leaving). Read on every request, from any thread, without locks or
 * allocation for a guest with one holder.
 *
 * <p>A member that leaves the cluster (stopped, crashed, hung past failure detection) does not
 * take its guests with it: they stay known as <em>unreachable</em> (503 "held by X, unreachable")
 * for {@code retentionMs}, or until a member of the same name joins again (the same hypervisor,
 * restarted), and only then are forgotten (404). A guest its live holder no longer holds (a
 * deleted VM) is forgotten at once.
 *
 * <p>A guest name held by several live members is routed to the same one by every member: the
 * holder whose node name sorts first (node id breaks ties), which is stable across restarts.
 */
public final class FleetView {

  private static final Logger log = LoggerFactory.getLogger(FleetView.class);
  private static final String[] NONE = new String[0];

  /** A member of the fleet as this member knows it. Fields other threads read are volatile. */
  public static final class Node {
    private final String id;
    private volatile String name;
    private volatile boolean gateway;
    // a member of the cluster, as the cluster manager reports it
    private volatile boolean member;
    // said it is stopping: still a member, finishing what it has, taking nothing new
    private volatile boolean leaving;
    private volatile long leftAtMillis;
    // still a member, but has not answered the probe lately (hung, or its link cut)
    private volatile boolean silent;
    private volatile long silentSinceMillis;
    // has answered a probe over the event bus (which TLS authenticates): a process that only
    // joined Hazelcast and wrote into the fleet record cannot
    private volatile boolean confirmed;

    Node(String id, String name, boolean member) {
      this.id = id;
      this.name = name;
      this.member = member;
    }

    public String id() {
      return id;
    }

    /** The member's node name, or its id until its name is known. */
    public String name() {
      String n = name;
      return n != null ? n : id;
    }

    /** A gateway (named in the fleet record), not just any Vert.x member of the cluster. */
    public boolean gateway() {
      return gateway;
    }

    /**
     * Takes requests: a member of the cluster now, as the cluster manager reports it, not
     * stopping, and answering.
     */
    public boolean live() {
      return member && !leaving && !silent;
    }

    /** Still a member, but it has not answered this member's probe lately. */
    public boolean silent() {
      return member && silent;
    }

    /** Has answered a probe over the event bus at least once. */
    public boolean confirmed() {
      return confirmed;
    }

    /** Still a member, but stopping: it finishes what it has and takes nothing new. */
    public boolean leaving() {
      return member && leaving;
    }

    /** When it left the cluster or said it was stopping (epoch ms), 0 while live. */
    public long leftAtMillis() {
      return leftAtMillis;
    }

    /** Since when requests for its guests are refused (epoch ms), 0 while live. */
    public long unreachableSinceMillis() {
      return silent() && !leaving ? silentSinceMillis : leftAtMillis;
    }

    /** Why it takes no requests, as "it ..." completes it: "left the cluster", and so on. */
    public String why() {
      return leaving() ? "began stopping" : silent() ? "stopped answering" : "left the cluster";
    }

    @Override
    public String toString() {
      return name() + (live() ? "" : leaving() ? " (leaving)" : silent() ? " (silent)"
          : " (left)");
    }
  }

  /** Where a guest's requests go. */
  public sealed interface Route {
  }

  /** This member holds it. */
  public record Local(LinkVerticle verticle) implements Route {
  }

  /** A live member holds it. */
  public record Remote(Node holder) implements Route {
  }

  /** Only a member that left holds it: 503 until it returns or the retention passes. */
  public record Unreachable(Node holder) implements Route {
  }

  /**
   * A live member lists it as a libvirt domain that stopped lately (shut off, crashed, saved):
   * 503 with {@code reason}, naming the holder, on every member.
   */
  public record Stopped(Node holder, String reason) implements Route {
  }

  /** Nobody holds it: 404. */
  public record Unknown() implements Route {
  }

  private static final Unknown UNKNOWN = new Unknown();
  /** Routing order: live first, by node name, then id; then those that left, latest first. */
  private static final Comparator<Node> ORDER = Comparator
      .comparing((Node n) -> !n.live())
      // a holding forged through Hazelcast by a process without the bus certificate never
      // wins over a member that answered over the bus
      .thenComparing(n -> n.live() && !n.confirmed)
      .thenComparing(n -> n.live() ? n.name() : "")
      .thenComparing(n -> n.live() ? 0 : -n.leftAtMillis())
      .thenComparing(Node::id);

  private final NodeIdentity self;
  private final Node selfNode;
  private final LocalGuests local;
  private final long retentionMs;
  private final Map<String, Node> nodes = new ConcurrentHashMap<>();
  // guest -> ids of the other members holding it (immutable arrays, replaced whole)
  private final Map<String, String[]> holdings = new ConcurrentHashMap<>();
  // member id -> the guests it holds
  private final Map<String, Set<String>> byNode = new ConcurrentHashMap<>();
  // "<member id>/<guest>" -> why it cannot take commands, for the stopped libvirt domains
  private final Map<String, String> stopped = new ConcurrentHashMap<>();
  private final Map<String, Set<Runnable>> watchers = new ConcurrentHashMap<>();
  private final Set<String> reportedConflicts = ConcurrentHashMap.newKeySet();
  // members forgotten after the retention: their entries may linger in the record a little
  private final Map<String, Long> forgotten = new ConcurrentHashMap<>();
  private volatile Predicate<String> isMember = id -> false;
  // "<node>/<guest>" the view has and the record lacked at the last reconcile
  private volatile Set<String> missingOnce = Set.of();

  public FleetView(NodeIdentity self, LocalGuests local, long retentionMs) {
    this.self = self;
    this.local = local;
    this.retentionMs = retentionMs;
    this.selfNode = new Node(self.id(), self.name(), true);
    selfNode.gateway = true;
    selfNode.confirmed = true;
  }

  /** A view of this member alone (not clustered). */
  public FleetView(NodeIdentity self, LocalGuests local) {
    this(self, local, 0);
  }

  public NodeIdentity self() {
    return self;
  }

  public LocalGuests local() {
    return local;
  }

  public long retentionMs() {
    return retentionMs;
  }

  /** How to tell whether a node id not seen yet is a member of the cluster now. */
  public void membership(Predicate<String> isMember) {
    this.isMember = isMember;
  }

  /** A node first heard of through the map: live if the cluster manager lists it. */
  private Node discovered(String id) {
    boolean member = isMember.test(id);
    Node n = new Node(id, null, member);
    if (!member) {
      n.leftAtMillis = System.currentTimeMillis();
    }
    return n;
  }

  // ---- membership (cluster manager) ------------------------------------------------------------

  /**
   * A member joined, or is found a member (at start): live.
   *
   * @return whether that is news
   */
  public synchronized boolean memberJoined(String id) {
    if (id.equals(self.id())) {
      return false;
    }
    forgotten.remove(id);
    Node n = nodes.computeIfAbsent(id, k -> new Node(k, null, false));
    boolean news = !n.member;
    if (news) {
      n.leftAtMillis = 0;
      n.leaving = false;
      n.silent = false;
    }
    n.member = true;
    return news;
  }

  /**
   * A member has not answered this member's probe for a while (hung, stalled, its link cut),
   * though the cluster manager still lists it: its guests are unreachable and the requests
   * forwarded to it fail now, until it answers again. It stays a member: a pause shorter than
   * Hazelcast's failure detection heals without a split.
   *
   * @return whether that is news
   */
  public synchronized boolean memberSilent(String id, long sinceMillis) {
    Node n = nodes.get(id);
    if (n == null || !n.member || n.silent) {
      return false;
    }
    n.silentSinceMillis = sinceMillis;
    n.silent = true;
    log.warn("member " + n.name() + " (" + id + ") has not answered for "
        + (System.currentTimeMillis() - sinceMillis) + " ms; its " + guestsOf(id).size()
        + " guest(s) are unreachable until it does");
    runWatchers(id);
    return true;
  }

  /** A member answered a probe over the event bus: it may win a duplicated name. */
  public void memberConfirmed(String id) {
    Node n = nodes.get(id);
    if (n != null) {
      n.confirmed = true;
    }
  }

  /**
   * A silent member answers again: it takes requests again.
   *
   * @return whether that is news
   */
  public synchronized boolean memberAnswers(String id) {
    Node n = nodes.get(id);
    if (n == null || !n.silent) {
      return false;
    }
    n.silent = false;
    log.info("member " + n.name() + " (" + id + ") answers again after "
        + (System.currentTimeMillis() - n.silentSinceMillis) + " ms");
    return true;
  }

  private void runWatchers(String id) {
    Set<Runnable> waiting = watchers.remove(id);
    if (waiting != null) {
      waiting.forEach(Runnable::run);
    }
  }

  /**
   * A member left the cluster (the cluster manager says so): its guests become unreachable, and
   * the requests forwarded to it fail now rather than at their deadline.
   *
   * @return whether that is news
   */
  public synchronized boolean memberLeft(String id, long nowMillis) {
    if (id.equals(self.id())) {
      return false;
    }
    Node n = nodes.computeIfAbsent(id, k -> new Node(k, null, true));
    if (!n.member) {
      return false;
    }
    if (!n.leaving || n.leftAtMillis == 0) {
      n.leftAtMillis = nowMillis;
    }
    n.member = false;
    n.silent = false;
    if (n.gateway || byNode.containsKey(id)) {
      log.warn("member " + n.name() + " (" + id + ") left the cluster; its "
          + guestsOf(id).size() + " guest(s) are unreachable for " + retentionMs + " ms");
    }
    runWatchers(id);
    return true;
  }

  /**
   * What the cluster-wide map says of a member: its name, and when it left (0: not known to
   * have left). A member is a gateway once it is named.
   */
  public void nodeDescribed(String id, String name, long leftAtMillis, boolean member) {
    nodeDescribed(id, name, leftAtMillis, false, member);
  }

  /**
   * @param leaving the member said it is stopping: new requests for its guests answer 503 at
   *                once, those it already has may finish (it drains before it leaves)
   */
  public void nodeDescribed(String id, String name, long leftAtMillis, boolean leaving,
                            boolean member) {
    if (id.equals(self.id()) || forgotten.containsKey(id) && !member) {
      return;
    }
    Node n = nodes.computeIfAbsent(id, this::discovered);
    n.name = name;
    n.gateway = true;
    if (!n.member && leftAtMillis > 0 && (n.leftAtMillis == 0 || leftAtMillis < n.leftAtMillis)) {
      // the earliest report wins, so every member counts the retention from the same moment
      n.leftAtMillis = leftAtMillis;
    }
    if (leaving && n.member && !n.leaving) {
      n.leftAtMillis = leftAtMillis > 0 ? leftAtMillis : System.currentTimeMillis();
      n.leaving = true;
      log.info("member " + n.name() + " (" + id + ") is stopping; its guests are unreachable");
    }
    if (!member && n.member) {
      memberLeft(id, leftAtMillis > 0 ? leftAtMillis : System.currentTimeMillis());
    }
  }

  /** Live gateway members other than this one. */
  public int livePeers() {
    int n = 0;
    for (Node node : nodes.values()) {
      if (node.live() && node.gateway) {
        n++;
      }
    }
    return n;
  }

  /** Every member known other than this one: live gateways and those within the retention. */
  public List<Node> nodes() {
    List<Node> out = new ArrayList<>();
    for (Node n : nodes.values()) {
      if (n.gateway || byNode.containsKey(n.id)) {
        out.add(n);
      }
    }
    return out;
  }

  public Node node(String id) {
    return id.equals(self.id()) ? selfNode : nodes.get(id);
  }

  // ---- holdings (cluster-wide map) -------------------------------------------------------------

  /** {@code nodeId} holds {@code guest} (an entry of the cluster-wide map appeared). */
  public void held(String nodeId, String guest) {
    held(nodeId, guest, null);
  }

  /**
   * @param stoppedReason null while the guest can be served there; for a libvirt domain of that
   *                      member that stopped lately, why it cannot take commands
   */
  public void held(String nodeId, String guest, String stoppedReason) {
    if (nodeId.equals(self.id()) || forgotten.containsKey(nodeId)) {
      return;
    }
    if (stoppedReason != null) {
      stopped.put(nodeId + "/" + guest, stoppedReason);
    } else {
      stopped.remove(nodeId + "/" + guest);
    }
    nodes.computeIfAbsent(nodeId, this::discovered);
    byNode.computeIfAbsent(nodeId, k -> ConcurrentHashMap.newKeySet()).add(guest);
    String[] after = holdings.compute(guest, (g, ids) -> {
      if (ids == null) {
        return new String[] {nodeId};
      }
      for (String id : ids) {
        if (id.equals(nodeId)) {
          return ids;
        }
      }
      String[] more = Arrays.copyOf(ids, ids.length + 1);
      more[ids.length] = nodeId;
      return more;
    });
    if (stoppedReason == null && (after.length > 1 || local.contains(guest))) {
      reportConflict(guest);
    }
  }

  /** Why {@code guest} cannot take commands on member {@code nodeId}, or null. */
  private String stoppedOn(String nodeId, String guest) {
    return stopped.isEmpty() ? null : stopped.get(nodeId + "/" + guest);
  }

  /** {@code nodeId} no longer holds {@code guest}. */
  public void released(String nodeId, String guest) {
    stopped.remove(nodeId + "/" + guest);
    Set<String> guests = byNode.get(nodeId);
    if (guests != null) {
      guests.remove(guest);
    }
    holdings.computeIfPresent(guest, (g, ids) -> {
      String[] fewer = Arrays.stream(ids).filter(id -> !id.equals(nodeId)).toArray(String[]::new);
      return fewer.length == 0 ? null : fewer;
    });
  }

  /** The guests a member holds, as far as this member knows. */
  public Set<String> guestsOf(String nodeId) {
    if (nodeId.equals(self.id())) {
      return Set.copyOf(local.names());
    }
    Set<String> guests = byNode.get(nodeId);
    return guests == null ? Set.of() : Set.copyOf(guests);
  }

  /** Guest entries of other members known to this one (a guest once per holder). */
  public int remoteGuests(boolean live) {
    int n = 0;
    for (Map.Entry<String, Set<String>> e : byNode.entrySet()) {
      Node node = nodes.get(e.getKey());
      if (node != null && node.live() == live) {
        n += e.getValue().size();
      }
    }
    return n;
  }

  // ---- routing ---------------------------------------------------------------------------------

  /** Where a request for {@code guest} goes. */
  public Route route(String guest) {
    String[] remote = holdings.getOrDefault(guest, NONE);
    LinkVerticle mine = local.get(guest);
    if (remote.length == 0) {
      return mine != null ? new Local(mine) : UNKNOWN;
    }
    if (remote.length == 1 && mine == null) {
      Node n = nodes.get(remote[0]);
      if (n == null) {
        return UNKNOWN;
      }
      return remoteRoute(n, guest);
    }
    List<Node> holders = holders(guest);
    // a member that serves the guest before one that lists it as stopped
    Node first = holders.get(0);
    for (Node n : holders) {
      if (n == selfNode || stoppedOn(n.id, guest) == null) {
        first = n;
        break;
      }
    }
    if (first == selfNode) {
      return mine != null ? new Local(mine) : UNKNOWN;
    }
    return remoteRoute(first, guest);
  }

  private Route remoteRoute(Node n, String guest) {
    if (!n.live()) {
      return new Unreachable(n);
    }
    String reason = stoppedOn(n.id, guest);
    return reason == null ? new Remote(n) : new Stopped(n, reason);
  }

  /**
   * Every member holding {@code guest}, in routing order: the one requests go to first (live, by
   * node name), then the other live ones, then those that left, latest first.
   */
  public List<Node> holders(String guest) {
    List<Node> out = new ArrayList<>();
    if (local.contains(guest)) {
      out.add(selfNode);
    }
    for (String id : holdings.getOrDefault(guest, NONE)) {
      Node n = nodes.get(id);
      if (n != null) {
        out.add(n);
      }
    }
    out.sort(ORDER);
    return out;
  }

  /** This member's guests that another live member also holds. */
  public int conflicts() {
    int n = 0;
    for (String guest : local.names()) {
      for (String id : holdings.getOrDefault(guest, NONE)) {
        Node node = nodes.get(id);
        if (node != null && node.live() && stoppedOn(id, guest) == null) {
          n++;
          break;
        }
      }
    }
    return n;
  }

  /** Also called when this member starts holding a guest another member holds. */
  void reportConflict(String guest) {
    List<Node> holders = holders(guest);
    long live = holders.stream().filter(Node::live).count();
    if (live > 1) {
      String key = guest + "@" + holders;
      if (reportedConflicts.add(key)) {
        log.warn("guest " + guest + " is held by more than one member: " + holders
            + "; every member routes its requests to " + holders.get(0).name());
      }
    }
  }

  // ---- requests in flight ----------------------------------------------------------------------

  /**
   * Runs {@code onLeft} (on the thread that learns it, possibly at once) when member
   * {@code nodeId} leaves the cluster or falls silent; the returned handle cancels it.
   */
  public Runnable watch(String nodeId, Runnable onLeft) {
    Set<Runnable> set = watchers.computeIfAbsent(nodeId, k -> ConcurrentHashMap.newKeySet());
    set.add(onLeft);
    Node n = nodes.get(nodeId);
    if (n != null && (!n.member || n.silent) && set.remove(onLeft)) {
      onLeft.run();
    }
    return () -> {
      Set<Runnable> s = watchers.get(nodeId);
      if (s != null) {
        s.remove(onLeft);
      }
    };
  }

  // ---- retention -------------------------------------------------------------------------------

  /**
   * Forgets the members that left more than the retention ago, or whose node name a live member
   * has again (the same hypervisor restarted, with a new node id); their guests become unknown.
   *
   * @return the ids forgotten
   */
  public List<String> expire(long nowMillis) {
    Set<String> liveNames = ConcurrentHashMap.newKeySet();
    liveNames.add(self.name());
    for (Node n : nodes.values()) {
      if (n.live() && n.name != null) {
        liveNames.add(n.name);
      }
    }
    List<String> forgotten = new ArrayList<>();
    for (Node n : nodes.values()) {
      if (n.member) {
        continue;
      }
      boolean expired = n.leftAtMillis > 0 && nowMillis - n.leftAtMillis >= retentionMs;
      boolean returned = n.name != null && liveNames.contains(n.name);
      if (expired || returned) {
        forget(n.id);
        forgotten.add(n.id);
        log.info("member " + n.name() + " (" + n.id + ") forgotten: " + (returned
            ? "it is back with a new node id" : "gone for " + (nowMillis - n.leftAtMillis)
            + " ms"));
      }
    }
    return forgotten;
  }

  private void forget(String id) {
    forgotten.put(id, System.currentTimeMillis());
    Set<String> guests = byNode.remove(id);
    if (guests != null) {
      for (String guest : guests) {
        released(id, guest);
      }
    }
    nodes.remove(id);
  }

  /**
   * Makes the view's holdings equal to {@code record} (node id -> guests, as the cluster-wide
   * map holds them now), for what its events missed; {@code current} reads an entry of the
   * record again just before it is changed here ({@code ""} held, a reason for a stopped
   * domain, null gone), so an event that raced the snapshot wins. An entry the record lacks is
   * removed only when it lacked it at the previous call too: while a member that was split off
   * merges back, Hazelcast empties its copy of the record and fills it again (seen: 5 entries
   * missing for a moment, their guests answered 404 until the next call put them back).
   *
   * @return entries added and removed
   */
  public int[] reconcile(Map<String, Set<String>> record,
                         java.util.function.BiFunction<String, String, String> current) {
    int added = 0;
    int removed = 0;
    for (Map.Entry<String, Set<String>> e : record.entrySet()) {
      String id = e.getKey();
      if (id.equals(self.id()) || forgotten.containsKey(id)) {
        continue;
      }
      Set<String> known = byNode.getOrDefault(id, Set.of());
      for (String guest : e.getValue()) {
        String value = current.apply(id, guest);
        if (value == null) {
          continue;
        }
        String reason = value.isEmpty() ? null : value;
        if (!known.contains(guest) || !java.util.Objects.equals(reason, stoppedOn(id, guest))) {
          held(id, guest, reason);
          added++;
        }
      }
    }
    Set<String> missing = new HashSet<>();
    for (Map.Entry<String, Set<String>> e : byNode.entrySet()) {
      Set<String> inRecord = record.getOrDefault(e.getKey(), Set.of());
      for (String guest : new ArrayList<>(e.getValue())) {
        if (!inRecord.contains(guest) && current.apply(e.getKey(), guest) == null) {
          String key = e.getKey() + "/" + guest;
          if (missingOnce.contains(key)) {
            released(e.getKey(), guest);
            removed++;
          } else {
            missing.add(key);
          }
        }
      }
    }
    missingOnce = missing;
    // a tombstone outlives the record's entries by a while, then goes
    long now = System.currentTimeMillis();
    forgotten.entrySet().removeIf(f -> !record.containsKey(f.getKey())
        && now - f.getValue() > 60_000);
    return new int[] {added, removed};
  }

  /** Everything known of other members, for tests and diagnostics. */
  Collection<Node> allNodes() {
    return nodes.values();
  }
}
