package io.qgagateway.link;

import java.util.Locale;

/** Why a link resynced; {@link #eventName()} for {@code agent.events}, {@link #metricLabel()} for metrics. */
public enum ResyncReason {
  CONNECT, TIMEOUT, PROTOCOL_ERROR, AFTER_NO_RESPONSE, MANUAL;

  private final String metricLabel = name().toLowerCase(Locale.ROOT);
  private final String eventName = metricLabel.replace('_', '-');

  public String metricLabel() {
    return metricLabel;
  }

  public String eventName() {
    return eventName;
  }
}
