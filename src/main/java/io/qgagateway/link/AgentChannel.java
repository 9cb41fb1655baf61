package io.qgagateway.link;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Deadline;
import io.qgagateway.api.Failures;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

import java.time.Instant;

/**
 * One guest's way to its agent, whatever carries it: a socket the gateway owns ({@link
 * GuestLink}) or a manager that owns the channel and lends it per call (libvirt). Everything
 * above it (validation, policy, audit, freeze leases, operations, metrics, HTTP, bus, cluster) is
 * the same for every backend.
 *
 * <p>Call every method but the getters on {@link #context()}.
 */
public interface AgentChannel {

  GuestTarget target();

  default String name() {
    return target().name();
  }

  /** What {@code agent.guests} and {@code qga_guests} report; any thread. */
  LinkState state();

  /** When the channel entered its current state; any thread. */
  Instant since();

  /** The last connection or protocol problem, null while healthy; any thread. */
  String lastError();

  /** Commands waiting; any thread. */
  int queued();

  /** The context all of this guest's work runs on. */
  Context context();

  /**
   * The agent's capabilities ({@code guest-info}'s return) as last learned while the guest was
   * not frozen, or null before the first; any thread.
   */
  JsonObject agentInfo();

  /**
   * How replies are matched to requests: {@code "id"} when the agent echoes request ids,
   * {@code "order"} when it does not (old agents), null before the first sync.
   */
  default String replyMatching() {
    return null;
  }

  /**
   * The most bytes one {@code guest-file-write} should carry on this channel; {@code agent.file-put}
   * writes in chunks of at most this.
   */
  default int maxWriteBytes() {
    return Integer.MAX_VALUE;
  }

  /**
   * The guest's run state as its hypervisor reports it ({@code running}, {@code paused},
   * {@code suspended}, {@code shutdown}, {@code shutoff}), or null where the gateway has no view
   * of it; any thread.
   */
  default String runState() {
    return null;
  }

  /**
   * Wakes a suspended guest and resyncs before its next command; fails with 501 where the
   * backend has no hypervisor to ask.
   */
  default Future<JsonObject> wakeup(Deadline deadline) {
    return Failures.fail(Codes.UNSUPPORTED, "no hypervisor view of guest " + name()
        + " to wake it: give the guest its qmp socket, or serve it through libvirt");
  }

  /**
   * Whether the channel let go of the agent's socket after an idle period so that other tools
   * get their turn (a guest shared politely); the next command reconnects. Any thread.
   */
  default boolean released() {
    return false;
  }

  void start();

  /** Fails what waits and closes the channel for good. */
  Future<Void> stop();

  /**
   * Sends one command. Succeeds with {@code {"return": X}}, or {@code {"sent": true}} for a
   * command without success response; fails with a {@link io.qgagateway.api.GatewayFailure}.
   * Completes exactly once, by {@code deadline}.
   */
  Future<JsonObject> execute(String command, JsonObject arguments, Deadline deadline,
                             boolean successResponse);

  default Future<JsonObject> execute(String command, JsonObject arguments, long timeoutMs,
                                     boolean successResponse) {
    return execute(command, arguments, Deadline.in(timeoutMs), successResponse);
  }

  /**
   * {@link #execute} for a caller whose continuations are thread-safe (the endpoint answering a
   * request with the reply): a backend whose replies arrive on another thread may complete it
   * there, sparing the reply a hand-off back to the guest's context. Everything else (the
   * guest's own state) still happens on {@link #context()}.
   */
  default Future<JsonObject> executeForCaller(String command, JsonObject arguments,
                                              Deadline deadline, boolean successResponse) {
    return execute(command, arguments, deadline, successResponse);
  }

  /**
   * Whether {@link #executeForCaller} may be called on any event loop, not only on {@link
   * #context()}: the caller then spares the request a hand-off to the guest's context.
   */
  default boolean callsFromAnyLoop() {
    return false;
  }

  /** Re-establishes step with the agent now; succeeds with {@code {"return": {"rttMicros"}}}. */
  Future<JsonObject> resync(Deadline deadline);

  /** Learns the agent's capabilities and freeze state again, e.g. after a thaw. */
  void refresh();

  /** Who hears of refreshes: the guest's endpoint, to track freezes it did not start. */
  void refreshListener(RefreshListener listener);

  /** What a refresh after a sync or a thaw learned. */
  interface RefreshListener {
    /** @param freezeStatus {@code "frozen"}, {@code "thawed"}, or null when unknown */
    void refreshed(String freezeStatus);
  }
}
