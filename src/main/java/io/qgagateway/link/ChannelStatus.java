package io.qgagateway.link;

import io.vertx.core.AsyncResult;
import io.vertx.core.json.JsonObject;

import java.time.Instant;

/**
 * What every backend reports of its channel to other threads (the listing, the gauges): state
 * and since when, the last problem, the queue's length, the agent's capabilities. Written on the
 * channel's context, read from anywhere.
 */
public abstract class ChannelStatus implements AgentChannel {

  private final GuestTarget target;
  private volatile LinkState state;
  private volatile Instant since = Instant.now();
  protected volatile String lastError;
  protected volatile int queued;
  protected volatile JsonObject agentInfo;

  protected ChannelStatus(GuestTarget target, LinkState initial, String lastError) {
    this.target = target;
    this.state = initial;
    this.lastError = lastError;
  }

  @Override
  public GuestTarget target() {
    return target;
  }

  @Override
  public LinkState state() {
    return state;
  }

  @Override
  public Instant since() {
    return since;
  }

  @Override
  public String lastError() {
    return lastError;
  }

  @Override
  public int queued() {
    return queued;
  }

  @Override
  public JsonObject agentInfo() {
    return agentInfo;
  }

  /**
   * What a refresh ({@code guest-fsfreeze-status}, then {@code guest-info}) learned: the
   * capabilities, unless the agent is frozen (a frozen agent lists most commands disabled).
   *
   * @return the freeze state, or null when unknown
   */
  protected String learned(AsyncResult<JsonObject> status, AsyncResult<JsonObject> info,
                           LinkObserver observer) {
    String freeze = status.succeeded()
        && status.result().getValue("return") instanceof String v ? v : null;
    if (info.succeeded() && info.result().getValue("return") instanceof JsonObject value
        && !"frozen".equals(freeze)) {
      agentInfo = value;
      observer.infoUpdated(this);
    }
    return freeze;
  }

  /** Moves to {@code next}, noting when, if it is a change. */
  protected void setState(LinkState next) {
    if (next != state) {
      state = next;
      since = Instant.now();
    }
  }
}
