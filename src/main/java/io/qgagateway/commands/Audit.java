package io.qgagateway.commands;

import io.qgagateway.api.Outcome;

import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The audit log: one line per command that changes a guest or was refused to its principal, on
 * its own logger ({@code qga.audit}) so operators can route it apart. It names the principal
 * and the command, never the arguments or a credential, so no secret can reach it.
 */
public final class Audit {

  public static final String LOGGER = "qga.audit";
  private static final Logger log = Logger.getLogger(LOGGER);

  private Audit() {
  }

  public static void record(String guest, String command, String principal, String caller,
                            Outcome outcome, long nanos, String detail) {
    if (!log.isLoggable(Level.INFO)) {
      return;
    }
    StringBuilder line = new StringBuilder(160)
        .append("guest=").append(guest)
        .append(" command=").append(command)
        .append(" principal=").append(principal)
        .append(" caller=").append(caller == null ? "eventbus" : caller)
        .append(" outcome=").append(outcome.label())
        .append(" durationMs=").append(nanos / 1_000_000);
    if (detail != null) {
      line.append(" detail=\"").append(detail.replace('"', '\'')).append('"');
    }
    log.info(line.toString());
  }
}
