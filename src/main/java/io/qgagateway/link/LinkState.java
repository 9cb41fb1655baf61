package io.qgagateway.link;

import java.util.Locale;

/** The state of a guest link, as {@code agent.guests} and {@code qga_guests} report it. */
public enum LinkState {
  CONNECTING, SYNCING, READY, DISCONNECTED;

  private final String label = name().toLowerCase(Locale.ROOT);

  public String label() {
    return label;
  }
}
