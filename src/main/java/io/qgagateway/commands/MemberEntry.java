package io.qgagateway.commands;

import io.qgagateway.api.Addresses;
import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.auth.Principal;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;

/**
 * How a request enters the gateway at a member of the caller's choosing (the HTTP API, the TCP
 * bridge, the JVM client's {@link EntryVerticle}): it goes to that member's own dispatcher (the
 * member-local {@code qga.local.agent.X} of {@link CommandVerticle}), which routes it and
 * answers by its deadline, never to whichever member the event bus would pick, so a member that
 * died or hangs elsewhere cannot swallow it.
 */
public final class MemberEntry {

  /** A safety net only: the member's dispatcher answers each request by its own deadline. */
  public static final long LOCAL_SEND_TIMEOUT_MS = CommandCatalog.MAX_TIMEOUT_MS + 60_000;
  public static final String ACCESS_DENIED = "access_denied";

  private MemberEntry() {
  }

  /**
   * Why a request to {@code address} may not enter (403 outside the public command addresses,
   * 400 for an unknown command), or {@code null} when it may.
   */
  public static ReplyException refusal(CommandCatalog catalog, String address) {
    if (address == null || !address.startsWith(Addresses.PUBLIC_PREFIX)
        || address.equals(Addresses.EVENTS)) {
      return Failures.of(Codes.FORBIDDEN, ACCESS_DENIED);
    }
    String suffix = address.substring(Addresses.PUBLIC_PREFIX.length());
    return catalog.byAddress(suffix).isPresent() ? null
        : Failures.of(Codes.BAD_REQUEST, "unknown command: " + suffix);
  }

  /**
   * Hands a request to this member's own dispatcher; its failures come back whole.
   *
   * @param principal the {@link Principal#HEADER} value, or null for the event-bus principal
   */
  public static <T> Future<T> dispatch(Vertx vertx, String address, Object body, String caller,
                                       String principal, long sendTimeoutMs) {
    DeliveryOptions options = new DeliveryOptions().setSendTimeout(sendTimeoutMs)
        .addHeader(GuestEndpoint.CALLER_HEADER, caller);
    if (principal != null) {
      options.addHeader(Principal.HEADER, principal);
    }
    return vertx.eventBus().<T>request(Addresses.local(address), body, options)
        .map(Message::body);
  }
}
