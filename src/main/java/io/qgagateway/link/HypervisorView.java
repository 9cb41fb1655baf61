package io.qgagateway.link;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

import java.util.Set;

/**
 * What a {@link GuestLink} knows of its guest from the hypervisor (its QMP monitor): whether the
 * guest can take a command now, which run state shows a command without success reply carried
 * out, and how to wake it. The link reacts to the changes; this only keeps and reads them.
 */
final class HypervisorView {

  private static final String RUNNING = "running";
  private static final String SUSPEND_RAM = "guest-suspend-ram";
  private static final String SUSPEND_HYBRID = "guest-suspend-hybrid";
  private static final Set<String> POWERED_OFF = Set.of("shutdown", QmpMonitor.GONE);

  private final String guest;
  private final QmpMonitor monitor;
  private boolean agentPortClosed;
  private String lastRunState;

  HypervisorView(String guest, QmpMonitor monitor) {
    this.guest = guest;
    this.monitor = monitor;
  }

  QmpMonitor monitor() {
    return monitor;
  }

  String runState() {
    return monitor.runState();
  }

  /** Records a run state; returns the one before it (null at the first). */
  String runStateChanged(String state) {
    String previous = lastRunState;
    lastRunState = state;
    return previous;
  }

  /** Records the agent's port; returns whether a close was seen before this change. */
  boolean agentPortChanged(boolean open) {
    boolean wasClosed = agentPortClosed;
    agentPortClosed = !open;
    return wasClosed;
  }

  static boolean running(String state) {
    return RUNNING.equals(state);
  }

  /** States after which the agent will not answer what it holds: fail it at once. */
  static boolean gone(String state) {
    return POWERED_OFF.contains(state) || state.contains("error")
        || "guest-panicked".equals(state);
  }

  /** Why the guest cannot take a command now; null when it can. */
  String unavailable() {
    String state = monitor.runState();
    if (state != null && !running(state)) {
      return "guest " + guest + " is " + state;
    }
    if (agentPortClosed) {
      return "the agent of " + guest + " is not connected (its virtio-serial port is closed)";
    }
    return null;
  }

  /** A command QEMU says it could not undo: suspend-to-RAM where it cannot wake the guest. */
  GatewayFailure refusal(String command) {
    if (!monitor.wakeupSupported()
        && (SUSPEND_RAM.equals(command) || SUSPEND_HYBRID.equals(command))) {
      return Failures.agent(Codes.UNSUPPORTED, "Unsupported", "QEMU cannot wake guest " + guest
          + " from suspend (wakeup-suspend-support is false): it would stay suspended");
    }
    return null;
  }

  /** The run states that show a command without success reply carried out; null: none. */
  static Set<String> reaches(String command, JsonObject arguments) {
    return switch (command) {
      case SUSPEND_RAM, SUSPEND_HYBRID -> Set.of("suspended");
      // a hibernated guest powers off
      case "guest-suspend-disk" -> POWERED_OFF;
      case "guest-shutdown" -> arguments != null && "reboot".equals(arguments.getValue("mode"))
          ? null : POWERED_OFF;
      default -> null;
    };
  }

  Future<JsonObject> wakeup() {
    String state = monitor.runState();
    if (!"suspended".equals(state)) {
      return Failures.fail(Codes.BAD_REQUEST, "guest " + guest + " is " + state
          + ", not suspended");
    }
    return monitor.wakeup().transform(ar -> ar.succeeded()
        ? Future.succeededFuture(new JsonObject().put("return", new JsonObject()
            .put("state", "woken")))
        : Failures.fail(Codes.AGENT_ERROR, "system_wakeup failed: " + ar.cause().getMessage()));
  }
}
