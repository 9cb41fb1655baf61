package io.qgagateway.link;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The verticle of one guest: owns its {@link AgentChannel} and serves the guest's internal
 * address with the endpoint the factory makes for it. Everything of one guest runs on this
 * verticle's event loop, so the link needs no locks.
 */
public final class LinkVerticle extends VerticleBase {

  private static final long UNREGISTER_WAIT_MS = 500;

  private final GuestTarget target;
  private final ChannelFactory channels;
  private final LinkObserver observer;
  private final String address;
  private final Function<AgentChannel, LinkEndpoint> endpoints;

  private AgentChannel link;
  private LinkEndpoint endpoint;
  private MessageConsumer<JsonObject> consumer;

  public LinkVerticle(GuestTarget target, ChannelFactory channels, LinkObserver observer,
                      String address, Function<AgentChannel, LinkEndpoint> endpoints) {
    this.target = target;
    this.channels = channels;
    this.observer = observer;
    this.address = address;
    this.endpoints = endpoints;
  }

  /** The link, once started. */
  public AgentChannel link() {
    return link;
  }

  public LinkEndpoint endpoint() {
    return endpoint;
  }

  public GuestTarget target() {
    return target;
  }

  @Override
  public Future<?> start() {
    link = channels.create(vertx, target, observer);
    endpoint = endpoints.apply(link);
    link.refreshListener(endpoint::refreshed);
    consumer = vertx.eventBus().consumer(address, endpoint);
    link.start();
    return consumer.completion();
  }

  @Override
  public Future<?> stop() {
    // stop taking requests first (the handler goes at once; the cluster-wide registration may
    // take long to remove while Hazelcast reassigns a lost member's partitions: not waited for
    // beyond a moment), then let the endpoint finish (thaw), then close the socket
    return consumer.unregister()
        .timeout(UNREGISTER_WAIT_MS, TimeUnit.MILLISECONDS)
        .transform(ar -> endpoint.close())
        .transform(ar -> link.stop());
  }
}
