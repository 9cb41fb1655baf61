package io.qgagateway.link;

import java.util.Locale;

/** Agent output the link dropped, the {@code kind} label of {@code qga_discarded_total}. */
public enum DiscardKind {
  /** A return nobody waits for: an earlier client's, an earlier sync's, or one after a timeout. */
  STALE_REPLY,
  /** An error nobody waits for, e.g. the agent's answer to the 0xFF that starts every sync. */
  STRAY_ERROR,
  /** Bytes that are not a JSON object. */
  GARBAGE,
  /** An object over the size bound. */
  OVERSIZED;

  private final String label = name().toLowerCase(Locale.ROOT);

  public String label() {
    return label;
  }
}
