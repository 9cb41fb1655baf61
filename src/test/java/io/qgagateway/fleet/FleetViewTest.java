package io.qgagateway.fleet;

import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkVerticle;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The fleet view's rules, without a cluster: where a guest's requests go, what a member that
 * leaves leaves behind, how long, and how a duplicated name is resolved.
 */
class FleetViewTest {

  private static final long RETENTION = 60_000;

  private final LocalGuests local = new LocalGuests();
  private final FleetView view = new FleetView(new NodeIdentity("id-self", "hv-m"), local,
      RETENTION);

  private LinkVerticle hold(String guest) {
    LinkVerticle v = new LinkVerticle(GuestTarget.tcp(guest, "127.0.0.1:1"), null, null,
        "qga.link.id-self." + guest, null);
    local.put(guest, v);
    return v;
  }

  private void member(String id, String name) {
    view.memberJoined(id);
    view.nodeDescribed(id, name, 0, true);
    view.memberConfirmed(id);
  }

  @Test
  void aGuestIsRoutedToItsHolderAndUnknownOtherwise() {
    LinkVerticle mine = hold("vm-1");
    member("id-b", "hv-b");
    view.held("id-b", "vm-2");
    assertSame(mine, ((FleetView.Local) view.route("vm-1")).verticle());
    assertEquals("hv-b", ((FleetView.Remote) view.route("vm-2")).holder().name());
    assertInstanceOf(FleetView.Unknown.class, view.route("vm-3"));
    assertEquals(1, view.livePeers());
  }

  @Test
  void aStoppedDomainOfAnotherMemberIsStoppedHereWithItsHolderUntilItIsForgotten() {
    member("id-b", "hv-b");
    view.held("id-b", "vm-off", "domain vm-off is shut off (shutdown)");
    FleetView.Stopped st = assertInstanceOf(FleetView.Stopped.class, view.route("vm-off"));
    assertEquals("hv-b", st.holder().name());
    assertEquals("domain vm-off is shut off (shutdown)", st.reason());
    // started again there: served again; another member that serves it wins over a stopped copy
    view.held("id-b", "vm-off", null);
    assertInstanceOf(FleetView.Remote.class, view.route("vm-off"));
    member("id-a", "hv-a");
    view.held("id-a", "vm-off", "domain vm-off is shut off (migrated)");
    assertEquals("hv-b", ((FleetView.Remote) view.route("vm-off")).holder().name());
    assertEquals(0, view.conflicts());
    // forgotten by its holder (undefined, or after libvirt.keepStoppedMs): gone
    view.released("id-a", "vm-off");
    view.released("id-b", "vm-off");
    assertInstanceOf(FleetView.Unknown.class, view.route("vm-off"));
    // a holder that left: unreachable, as for any of its guests
    view.held("id-b", "vm-off", "domain vm-off is shut off (shutdown)");
    view.memberLeft("id-b", 1_000);
    assertInstanceOf(FleetView.Unreachable.class, view.route("vm-off"));
  }

  @Test
  void localGuestsSayWhatTheRecordHoldsForEachName() {
    List<String> told = new java.util.ArrayList<>();
    local.listener(told::add);
    LinkVerticle v = hold("vm-1");
    assertEquals("", local.record("vm-1"));
    local.putStopped("vm-1", new io.vertx.core.json.JsonObject().put("lastError", "shut off"));
    // still held: the record says held until the link goes
    assertEquals("", local.record("vm-1"));
    local.remove("vm-1", v);
    assertEquals("shut off", local.record("vm-1"));
    assertEquals(Map.of("vm-1", "shut off"), local.stoppedReasons());
    local.removeStopped("vm-1");
    assertEquals(null, local.record("vm-1"));
    assertEquals(List.of("vm-1", "vm-1", "vm-1", "vm-1"), told);
  }

  @Test
  void aMemberThatLeavesLeavesItsGuestsUnreachableUntilTheRetentionPasses() {
    member("id-b", "hv-b");
    view.held("id-b", "vm-2");
    view.memberLeft("id-b", 1_000);
    FleetView.Unreachable u = assertInstanceOf(FleetView.Unreachable.class, view.route("vm-2"));
    assertEquals("hv-b", u.holder().name());
    assertEquals(1_000, u.holder().leftAtMillis());
    assertEquals(0, view.livePeers());
    assertEquals(List.of(), view.expire(1_000 + RETENTION - 1));
    assertEquals(List.of("id-b"), view.expire(1_000 + RETENTION));
    assertInstanceOf(FleetView.Unknown.class, view.route("vm-2"));
    // the record's lingering entries do not bring it back
    view.held("id-b", "vm-2");
    assertInstanceOf(FleetView.Unknown.class, view.route("vm-2"));
  }

  @Test
  void aSilentMemberIsUnreachableUntilItAnswersAndNeverForgotten() {
    member("id-b", "hv-b");
    member("id-c", "hv-c");
    view.held("id-b", "vm-2");
    view.held("id-b", "dup");
    view.held("id-c", "dup");
    AtomicInteger failed = new AtomicInteger();
    view.watch("id-b", failed::incrementAndGet);
    long since = System.currentTimeMillis() - 2_500;
    assertEquals(true, view.memberSilent("id-b", since));
    assertEquals(false, view.memberSilent("id-b", since), "told once");
    // the request in flight to it fails now, new ones answer 503 naming why and since when
    assertEquals(1, failed.get());
    FleetView.Unreachable u = assertInstanceOf(FleetView.Unreachable.class, view.route("vm-2"));
    assertEquals("stopped answering", u.holder().why());
    assertEquals(since, u.holder().unreachableSinceMillis());
    assertEquals(1, view.livePeers());
    // a name it shares goes to the holder that answers
    assertEquals("hv-c", ((FleetView.Remote) view.route("dup")).holder().name());
    // still a member: the retention does not run, nothing is forgotten
    assertEquals(List.of(), view.expire(since + RETENTION * 2));
    view.watch("id-b", failed::incrementAndGet);
    assertEquals(2, failed.get(), "watching a silent member fails at once");
    assertEquals(true, view.memberAnswers("id-b"));
    assertEquals(false, view.memberAnswers("id-b"));
    assertEquals("hv-b", ((FleetView.Remote) view.route("vm-2")).holder().name());
    assertEquals(2, view.livePeers());
    // silent, then gone: the cluster manager's word wins
    view.memberSilent("id-b", since);
    view.memberLeft("id-b", since + 10_000);
    u = assertInstanceOf(FleetView.Unreachable.class, view.route("vm-2"));
    assertEquals("left the cluster", u.holder().why());
    assertEquals(false, view.memberAnswers("id-b"));
  }

  @Test
  void aMemberBackUnderItsNameReplacesItsOldRecordAtOnce() {
    member("id-b", "hv-b");
    view.held("id-b", "vm-2");
    view.held("id-b", "vm-deleted-meanwhile");
    view.memberLeft("id-b", 1_000);
    member("id-b2", "hv-b");
    view.held("id-b2", "vm-2");
    assertEquals(List.of("id-b"), view.expire(2_000));
    assertEquals("id-b2", ((FleetView.Remote) view.route("vm-2")).holder().id());
    assertInstanceOf(FleetView.Unknown.class, view.route("vm-deleted-meanwhile"));
  }

  @Test
  void aMemberThatSaysItIsStoppingTakesNothingNewButFinishesWhatItHas() {
    member("id-b", "hv-b");
    view.held("id-b", "vm-2");
    AtomicInteger told = new AtomicInteger();
    view.watch("id-b", told::incrementAndGet);
    view.nodeDescribed("id-b", "hv-b", 1_000, true, true);
    FleetView.Unreachable u = assertInstanceOf(FleetView.Unreachable.class, view.route("vm-2"));
    assertEquals(true, u.holder().leaving());
    assertEquals(0, view.livePeers());
    assertEquals(0, told.get(), "requests it has are not failed while it drains");
    assertEquals(List.of(), view.expire(1_000 + RETENTION * 2), "not forgotten while a member");
    view.memberLeft("id-b", 3_000);
    assertEquals(1, told.get());
    assertEquals(1_000, u.holder().leftAtMillis(), "the retention counts from the stop");
    assertEquals(List.of("id-b"), view.expire(1_000 + RETENTION));
  }

  @Test
  void aGuestItsLiveHolderReleasesIsUnknownAtOnce() {
    member("id-b", "hv-b");
    view.held("id-b", "vm-2");
    view.released("id-b", "vm-2");
    assertInstanceOf(FleetView.Unknown.class, view.route("vm-2"));
  }

  @Test
  void aDuplicatedNameGoesToTheHolderWhoseNodeNameSortsFirstFromEveryMember() {
    hold("dup");
    member("id-a", "hv-a");
    member("id-z", "hv-z");
    view.held("id-a", "dup");
    view.held("id-z", "dup");
    // this member is hv-m: hv-a wins, though this member holds a dup itself
    assertEquals("hv-a", ((FleetView.Remote) view.route("dup")).holder().name());
    assertEquals(List.of("hv-a", "hv-m", "hv-z"), view.holders("dup").stream()
        .map(FleetView.Node::name).toList());
    assertEquals(1, view.conflicts());
    // hv-a gone: the next live holder by name is this member
    view.memberLeft("id-a", 5_000);
    assertInstanceOf(FleetView.Local.class, view.route("dup"));
    assertEquals(1, view.conflicts(), "hv-z still holds it");
    view.memberLeft("id-z", 5_000);
    assertEquals(0, view.conflicts());
  }

  @Test
  void aHolderThatNeverAnsweredOverTheBusNeverWinsADuplicatedName() {
    hold("dup");
    // a process that joined Hazelcast and forged a holding under a name that sorts first
    view.memberJoined("id-forger");
    view.nodeDescribed("id-forger", "0-forged", 0, true);
    view.held("id-forger", "dup");
    assertInstanceOf(FleetView.Local.class, view.route("dup"));
    assertEquals(1, view.conflicts(), "the forged holding is a conflict the gauge shows");
    member("id-a", "hv-a");
    view.held("id-a", "dup");
    assertEquals(List.of("hv-a", "hv-m", "0-forged"), view.holders("dup").stream()
        .map(FleetView.Node::name).toList());
  }

  @Test
  void requestsWatchingAMemberAreToldWhenItLeavesOrAtOnceIfItHasLeft() {
    member("id-b", "hv-b");
    AtomicInteger told = new AtomicInteger();
    Runnable cancel = view.watch("id-b", told::incrementAndGet);
    Runnable cancelled = view.watch("id-b", () -> told.addAndGet(100));
    cancelled.run();
    view.memberLeft("id-b", 1_000);
    assertEquals(1, told.get());
    view.memberLeft("id-b", 2_000);
    assertEquals(1, told.get(), "once");
    view.watch("id-b", told::incrementAndGet);
    assertEquals(2, told.get(), "a member already gone: at once");
    cancel.run();
  }

  @Test
  void theViewIsMendedFromTheRecord() {
    member("id-b", "hv-b");
    view.held("id-b", "vm-1");
    view.held("id-b", "stale");
    view.held("id-b", "refilling");
    int[] fixed = view.reconcile(Map.of("id-b", Set.of("vm-1", "missed")), (n, g) -> null);
    assertArrayEquals(new int[] {0, 0}, fixed, "stillThere false: nothing added; missing once: "
        + "kept (a copy being refilled after a merge)");
    assertInstanceOf(FleetView.Remote.class, view.route("stale"));
    fixed = view.reconcile(Map.of("id-b", Set.of("vm-1", "missed", "refilling")),
        (n, g) -> null);
    assertArrayEquals(new int[] {0, 1}, fixed, "missing twice in a row: removed");
    fixed = view.reconcile(Map.of("id-b", Set.of("vm-1", "missed", "refilling")), (n, g) -> "");
    assertArrayEquals(new int[] {1, 0}, fixed);
    assertInstanceOf(FleetView.Remote.class, view.route("missed"));
    assertInstanceOf(FleetView.Remote.class, view.route("refilling"));
    assertInstanceOf(FleetView.Unknown.class, view.route("stale"));
  }
}
