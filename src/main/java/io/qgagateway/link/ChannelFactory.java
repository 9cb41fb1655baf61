package io.qgagateway.link;

import io.vertx.core.Vertx;

/** Makes the channel of one guest, on the context of the verticle that will own it. */
@FunctionalInterface
public interface ChannelFactory {

  AgentChannel create(Vertx vertx, GuestTarget target, LinkObserver observer);

  /**
   * The gateway's own socket client, for guests whose channel nobody else owns; with the
   * guest's QMP monitor when the target names one.
   */
  static ChannelFactory socket(LinkOptions options) {
    return (vertx, target, observer) -> {
      GuestLink link = new GuestLink(vertx, target, options, observer);
      if (target.qmp() != null) {
        link.watch(new QmpMonitor(vertx, target, link.hypervisorListener()));
      }
      return link;
    };
  }
}
