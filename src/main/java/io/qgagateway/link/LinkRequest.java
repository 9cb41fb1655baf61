package io.qgagateway.link;

import io.qgagateway.api.Deadline;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.util.Set;

/** A request waiting for a {@link GuestLink}: a command, or a sync asked for by a caller. */
abstract sealed class LinkRequest permits LinkRequest.Command, LinkRequest.Sync {
  final Deadline deadline;
  final Promise<JsonObject> promise = Promise.promise();

  LinkRequest(Deadline deadline) {
    this.deadline = deadline;
  }

  boolean done() {
    return promise.future().isComplete();
  }

  /** One agent command, encoded once when queued. */
  static final class Command extends LinkRequest {
    final String command;
    final Buffer frame;
    final boolean successResponse;
    // the id it was written with in id mode
    long id = -1;
    long writtenNanos;
    // with the hypervisor's view: the run states that show it carried out
    Set<String> reaches;

    Command(String command, Buffer frame, boolean successResponse, Deadline deadline) {
      super(deadline);
      this.command = command;
      this.frame = frame;
      this.successResponse = successResponse;
    }
  }

  /** {@code agent.sync}: a full resync, in turn. */
  static final class Sync extends LinkRequest {
    Sync(Deadline deadline) {
      super(deadline);
    }
  }

  /** A sync pipelined behind {@code command}, and the id its delimited answer carries. */
  record Probe(long id, Command command) {
  }
}
