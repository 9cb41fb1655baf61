package io.qgagateway.link;

/** What a link reports about itself, for events and metrics. Called on the link's context. */
public interface LinkObserver {

  default void connected(AgentChannel link) {
  }

  default void disconnected(AgentChannel link, String reason) {
  }

  default void resynced(AgentChannel link, ResyncReason reason, long nanos) {
  }

  default void discarded(AgentChannel link, DiscardKind kind) {
  }

  /** Agent info was refreshed after a sync. */
  default void infoUpdated(AgentChannel link) {
  }

  LinkObserver NONE = new LinkObserver() {
  };

  /** Both observers, in order. */
  default LinkObserver andThen(LinkObserver next) {
    LinkObserver first = this;
    return new LinkObserver() {
      @Override
      public void connected(AgentChannel link) {
        first.connected(link);
        next.connected(link);
      }

      @Override
      public void disconnected(AgentChannel link, String reason) {
        first.disconnected(link, reason);
        next.disconnected(link, reason);
      }

      @Override
      public void resynced(AgentChannel link, ResyncReason reason, long nanos) {
        first.resynced(link, reason, nanos);
        next.resynced(link, reason, nanos);
      }

      @Override
      public void discarded(AgentChannel link, DiscardKind kind) {
        first.discarded(link, kind);
        next.discarded(link, kind);
      }

      @Override
      public void infoUpdated(AgentChannel link) {
        first.infoUpdated(link);
        next.infoUpdated(link);
      }
    };
  }
}
