package io.qgagateway.link;

/**
 * Where a {@link GuestLink} stands. {@link LinkState} is what the API shows of it: the three
 * phases in which commands flow are all {@code ready}.
 */
enum LinkPhase {
  /** No connection; a reconnect is scheduled unless the link is closed. */
  DISCONNECTED(LinkState.DISCONNECTED),
  CONNECTING(LinkState.CONNECTING),
  /** 0xFF + guest-sync-delimited written; everything up to its delimited return is dropped. */
  SYNCING(LinkState.SYNCING),
  /** In step with the agent, nothing in flight: the next queued command may be written. */
  IDLE(LinkState.READY),
  /** One command written; its reply (and only its reply) completes it. */
  AWAITING_REPLY(LinkState.READY),
  /**
   * A command without success reply written with a sync pipelined behind it: an error means it
   * failed, the sync's answer or EOF means it was carried out, silence until the window ends
   * means the guest went down or to sleep.
   */
  AWAITING_EVIDENCE(LinkState.READY),
  /**
   * Shared politely: the socket was released after an idle period so other clients get their
   * turn; the next command reconnects (and so resyncs). Commands are accepted: {@code ready}.
   */
  RELEASED(LinkState.READY),
  /** Stopped for good. */
  CLOSED(LinkState.DISCONNECTED);

  private final LinkState state;

  LinkPhase(LinkState state) {
    this.state = state;
  }

  LinkState state() {
    return state;
  }

  boolean ready() {
    return state == LinkState.READY;
  }
}
