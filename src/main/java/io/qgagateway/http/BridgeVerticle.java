package io.qgagateway.http;

import io.qgagateway.api.Addresses;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetServerOptions;
import io.vertx.ext.bridge.BridgeEventType;
import io.vertx.ext.bridge.BridgeOptions;
import io.vertx.ext.bridge.PermittedOptions;
import io.vertx.ext.eventbus.bridge.tcp.BridgeEvent;
import io.vertx.ext.eventbus.bridge.tcp.TcpEventBusBridge;

/**
 * Vert.x's TCP event-bus bridge for non-JVM callers (API.md section 5): in, exactly the public
 * {@code agent.*} addresses; out, {@code agent.events}. Internal addresses are outside both.
 */
public final class BridgeVerticle extends VerticleBase {

  /** {@code agent.<suffix>}, but not {@code agent.events}, which is outbound only. */
  static final String INBOUND = "agent\\.(?!events$)[a-z0-9][a-z0-9-]*";

  private final GatewayConfig.Bridge config;
  private TcpEventBusBridge bridge;

  public BridgeVerticle(GatewayConfig.Bridge config) {
    this.config = config;
  }

  @Override
  public Future<?> start() {
    BridgeOptions options = new BridgeOptions()
        .addInboundPermitted(new PermittedOptions().setAddressRegex(INBOUND))
        .addOutboundPermitted(new PermittedOptions().setAddress(Addresses.EVENTS));
    bridge = TcpEventBusBridge.create(vertx, options, new NetServerOptions(), this::stampCaller);
    return bridge.listen(config.port(), config.host());
  }

  @Override
  public Future<?> stop() {
    return bridge.close();
  }

  /** The audit log names the bridge client by its address, whatever headers it sent. */
  private void stampCaller(BridgeEvent event) {
    if ((event.type() == BridgeEventType.SEND || event.type() == BridgeEventType.PUBLISH)
        && event.getRawMessage() != null) {
      JsonObject raw = event.getRawMessage();
      JsonObject headers = raw.getJsonObject("headers", new JsonObject());
      headers.put("caller", "bridge:" + event.socket().remoteAddress());
      raw.put("headers", headers);
      event.setRawMessage(raw);
    }
    event.complete(true);
  }
}
