package io.qgagateway.link;

import io.vertx.core.Vertx;

/** Makes the channel of one guest, on the context of the verticle that will own it. */
@FunctionalInterface
public interface ChannelFactory {

  AgentChannel create(Vertx vertx, GuestTarget target, LinkObserver observer);

  /** The gateway's own socket client, for guests whose channel nobody else owns. */
  static ChannelFactory socket(LinkOptions options) {
    return (vertx, target, observer) -> new GuestLink(vertx, target, options, observer);
  }
}
