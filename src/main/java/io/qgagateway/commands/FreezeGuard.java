package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.fleet.GuestEvents;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;

/**
 * Freezes with a lease. A freeze that is not followed by a thaw within {@code autoThawMs} is
 * thawed by the gateway itself (event {@code auto-thawed}): a backup tool that dies mid-backup
 * must not leave a guest's disks frozen. A freeze whose outcome is unknown (timeout, lost
 * connection) is thawed at once, and so is every frozen guest when the gateway stops.
 * Runs on the guest's link context.
 */
final class FreezeGuard {

  private static final Logger log = LoggerFactory.getLogger(FreezeGuard.class);
  private static final String THAW = "guest-fsfreeze-thaw";
  private static final long THAW_TIMEOUT_MS = 60_000;
  private static final long THAW_RETRY_MS = 5_000;

  private final Vertx vertx;
  private final AgentChannel link;
  private final GuestEvents events;
  private final GatewayMetrics metrics;
  private final long defaultAutoThawMs;
  private final boolean thawForeign;

  private volatile boolean frozen;
  private long leaseTimer = -1;
  private boolean closed;

  FreezeGuard(Vertx vertx, AgentChannel link, GuestEvents events, GatewayMetrics metrics,
              long defaultAutoThawMs, boolean thawForeign) {
    this.vertx = vertx;
    this.link = link;
    this.events = events;
    this.metrics = metrics;
    this.defaultAutoThawMs = defaultAutoThawMs;
    this.thawForeign = thawForeign;
  }

  boolean frozen() {
    return frozen;
  }

  Future<JsonObject> freeze(RequestBody request) {
    long autoThawMs = request.autoThawMs() != null ? request.autoThawMs() : defaultAutoThawMs;
    return link.execute(request.execute(), request.arguments(), request.deadline(), true)
        .onSuccess(reply -> {
          frozen = true;
          events.publish("frozen", link.name(), new JsonObject().put("autoThawMs", autoThawMs));
          startLease(autoThawMs);
        })
        .onFailure(e -> {
          int code = e instanceof ReplyException re ? re.failureCode() : Codes.ERROR;
          if (code == Codes.TIMEOUT || code == Codes.NOT_CONNECTED) {
            // the guest may have frozen without us hearing it: nobody would thaw it
            log.warn("freeze of " + link.name() + " ended without an answer (" + e.getMessage()
                + "); thawing to be safe");
            autoThaw("freeze outcome unknown");
          }
        });
  }

  Future<JsonObject> thaw(RequestBody request) {
    return link.execute(THAW, request.arguments(), request.deadline(), true)
        .onSuccess(reply -> thawed("thawed", null));
  }

  /**
   * The agent's own answer to fsfreeze-status (asked by a caller, or by the link at every sync)
   * corrects what we believe. A guest found frozen that we did not freeze (a gateway that crashed
   * holding the lease, another tool) is reported and put under a lease of its own, unless
   * {@code freeze.thawForeign} is off: so no crash ever leaves a guest frozen for good.
   */
  void observedStatus(Object status) {
    if ("thawed".equals(status) && frozen) {
      thawed("thawed", "guest reports thawed");
    } else if ("frozen".equals(status) && !frozen) {
      frozen = true;
      long leaseMs = thawForeign ? defaultAutoThawMs : 0;
      log.warn("guest " + link.name() + " is frozen, not through this gateway; "
          + (leaseMs > 0 ? "auto-thaw in " + leaseMs + " ms" : "left alone (freeze.thawForeign)"));
      events.publish("frozen", link.name(), new JsonObject().put("autoThawMs", leaseMs)
          .put("reason", "found frozen"));
      startLease(leaseMs);
    }
  }

  /** Thaws a frozen guest before its link closes. */
  Future<Void> release() {
    closed = true;
    if (!frozen) {
      return Future.succeededFuture();
    }
    cancelLease();
    return link.execute(THAW, null, 10_000, true)
        .onSuccess(r -> thawed("auto-thawed", "gateway stopping"))
        .onFailure(e -> log.error("could not thaw " + link.name() + " while stopping: "
            + e.getMessage()))
        .<Void>mapEmpty()
        .recover(e -> Future.succeededFuture());
  }

  private void startLease(long autoThawMs) {
    cancelLease();
    if (autoThawMs > 0) {
      leaseTimer = vertx.setTimer(autoThawMs, id -> {
        leaseTimer = -1;
        autoThaw("no thaw within " + autoThawMs + " ms");
      });
    }
  }

  private void autoThaw(String why) {
    if (closed) {
      return;
    }
    link.execute(THAW, null, THAW_TIMEOUT_MS, true)
        .onSuccess(r -> thawed("auto-thawed", why))
        .onFailure(e -> {
          log.warn("auto-thaw of " + link.name() + " failed (" + e.getMessage() + "); retrying");
          leaseTimer = vertx.setTimer(THAW_RETRY_MS, id -> {
            leaseTimer = -1;
            autoThaw(why);
          });
        });
  }

  private void thawed(String type, String why) {
    boolean wasFrozen = frozen;
    frozen = false;
    cancelLease();
    if (wasFrozen) {
      // what the agent disabled while frozen works again: learn it
      link.refresh();
    }
    if ("auto-thawed".equals(type)) {
      metrics.autoThawed();
      log.warn("guest " + link.name() + " auto-thawed: " + why);
    }
    if (wasFrozen || "auto-thawed".equals(type)) {
      events.publish(type, link.name(), why == null ? null : new JsonObject().put("reason", why));
    }
  }

  private void cancelLease() {
    if (leaseTimer >= 0) {
      vertx.cancelTimer(leaseTimer);
      leaseTimer = -1;
    }
  }
}
