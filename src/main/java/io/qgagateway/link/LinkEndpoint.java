package io.qgagateway.link;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;

/**
 * Serves a guest's internal address on the node that holds its link: where policy is enforced
 * and operations run, so no path to the guest can skip them.
 */
public interface LinkEndpoint extends Handler<Message<JsonObject>> {

  /** Whether the guest's filesystems are frozen through this gateway; any thread may ask. */
  default boolean frozen() {
    return false;
  }

  /**
   * What the channel learned at a sync or refresh: the guest may be frozen by someone else, or
   * thawed behind our back. Called on the channel's context.
   */
  default void refreshed(String freezeStatus) {
  }

  /** Called before the link closes, e.g. to thaw a frozen guest. */
  default Future<Void> close() {
    return Future.succeededFuture();
  }
}
