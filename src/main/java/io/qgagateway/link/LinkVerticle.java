package io.qgagateway.link;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

import java.util.function.Function;

/**
 * The socket verticle of one guest: owns its {@link GuestLink} and serves the guest's internal
 * address with the endpoint the factory makes for it. Everything of one guest runs on this
 * verticle's event loop, so the link needs no locks.
 */
public final class LinkVerticle extends VerticleBase {

  private final GuestTarget target;
  private final LinkOptions options;
  private final LinkObserver observer;
  private final String address;
  private final Function<GuestLink, LinkEndpoint> endpoints;

  private GuestLink link;
  private LinkEndpoint endpoint;
  private MessageConsumer<JsonObject> consumer;

  public LinkVerticle(GuestTarget target, LinkOptions options, LinkObserver observer,
                      String address, Function<GuestLink, LinkEndpoint> endpoints) {
    this.target = target;
    this.options = options;
    this.observer = observer;
    this.address = address;
    this.endpoints = endpoints;
  }

  /** The link, once started. */
  public GuestLink link() {
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
    link = new GuestLink(vertx, target, options, observer);
    endpoint = endpoints.apply(link);
    consumer = vertx.eventBus().consumer(address, endpoint);
    link.start();
    return consumer.completion();
  }

  @Override
  public Future<?> stop() {
    // stop taking requests first, then let the endpoint finish (thaw), then close the socket
    return consumer.unregister()
        .transform(ar -> endpoint.close())
        .transform(ar -> link.stop());
  }
}
