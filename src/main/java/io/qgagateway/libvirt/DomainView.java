package io.qgagateway.libvirt;

import io.qgagateway.libvirt.Hypervisor.DomainState;

/**
 * What the gateway knows of one domain at a moment, from libvirt's listing and events.
 *
 * @param detail         why it is in that state, when known (e.g. {@code shutdown},
 *                       {@code destroyed}), else null
 * @param connectionUp   the connection to libvirt is up (when down, nothing is known)
 * @param connectionNote why the connection is down, else null
 */
public record DomainView(String uuid, String name, DomainState state, String detail,
                         boolean agentConnected, boolean connectionUp, String connectionNote) {

  DomainView withState(DomainState next, String why) {
    return new DomainView(uuid, name, next, why, agentConnected, connectionUp, connectionNote);
  }

  DomainView withAgent(boolean connected) {
    return new DomainView(uuid, name, state, detail, connected, connectionUp, connectionNote);
  }

  DomainView withConnection(boolean up, String note) {
    return new DomainView(uuid, name, state, detail, agentConnected, up, note);
  }

  /** Why the agent cannot take a command now, or null when it can. */
  public String unavailable(String uri) {
    if (!connectionUp) {
      return "the connection to libvirt (" + uri + ") is down"
          + (connectionNote == null ? "" : ": " + connectionNote) + "; reconnecting";
    }
    String why = detail == null ? "" : " (" + detail + ")";
    return switch (state) {
      case RUNNING, BLOCKED -> agentConnected ? null
          : "the guest agent of " + name + " is not connected (libvirt: agent channel "
              + "disconnected; the agent is not running in the guest, or is restarting)";
      case PAUSED -> "domain " + name + " is paused" + why + "; resume it first";
      case PMSUSPENDED -> "domain " + name + " is suspended" + why + "; wake it with agent.wakeup";
      case SHUTDOWN -> "domain " + name + " is shutting down" + why;
      case SHUTOFF -> "domain " + name + " is shut off" + why;
      case CRASHED -> "domain " + name + " has crashed" + why;
      case NOSTATE -> "domain " + name + " is in no known state";
    };
  }
}
