package io.qgagateway;

import io.qgagateway.commands.Audit;
import io.vertx.core.json.JsonObject;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Logging through java.util.logging (what Vert.x and Hazelcast use without extra jars): one
 * line per record on stderr, plain or JSON ({@code logging.json}). The audit log is the logger
 * {@code qga.audit}; its records carry {@code "audit": true} in JSON.
 */
final class Logging {

  private Logging() {
  }

  static void install(boolean json) {
    if (System.getProperty("java.util.logging.config.file") != null) {
      return;
    }
    if (LogManager.getLogManager() instanceof StopSafeLogManager manager) {
      manager.resetNow();
    } else {
      LogManager.getLogManager().reset();
    }
    Logger root = Logger.getLogger("");
    Handler handler = new ConsoleHandler();
    handler.setLevel(Level.ALL);
    handler.setFormatter(json ? new JsonFormatter() : new LineFormatter());
    root.addHandler(handler);
    root.setLevel(Level.INFO);
    // chatty at INFO; their warnings still show
    Logger.getLogger("com.hazelcast").setLevel(Level.WARNING);
    Logger.getLogger("io.netty").setLevel(Level.WARNING);
  }

  /**
   * The JDK resets logging from a shutdown hook of its own, racing ours: what the gateway logs
   * while it drains, thaws and closes would be lost. This manager resets only when asked to.
   * {@link Main} makes it the LogManager before anything logs.
   */
  public static final class StopSafeLogManager extends LogManager {
    @Override
    public void reset() {
      // only resetNow(): the JDK's shutdown cleaner calls this too
    }

    void resetNow() {
      super.reset();
    }
  }

  private static String shortName(String logger) {
    if (logger == null) {
      return "";
    }
    int dot = logger.lastIndexOf('.');
    return logger.startsWith("io.qgagateway.") ? logger.substring(dot + 1) : logger;
  }

  private static String thrown(LogRecord record) {
    if (record.getThrown() == null) {
      return null;
    }
    StringWriter out = new StringWriter();
    record.getThrown().printStackTrace(new PrintWriter(out));
    return out.toString();
  }

  static final class LineFormatter extends Formatter {
    @Override
    public String format(LogRecord record) {
      String stack = thrown(record);
      return Instant.ofEpochMilli(record.getMillis()) + " " + record.getLevel().getName() + " "
          + shortName(record.getLoggerName()) + " - " + formatMessage(record)
          + System.lineSeparator() + (stack == null ? "" : stack);
    }
  }

  static final class JsonFormatter extends Formatter {
    @Override
    public String format(LogRecord record) {
      JsonObject line = new JsonObject()
          .put("time", Instant.ofEpochMilli(record.getMillis()).toString())
          .put("level", record.getLevel().getName())
          .put("logger", record.getLoggerName())
          .put("message", formatMessage(record));
      if (Audit.LOGGER.equals(record.getLoggerName())) {
        line.put("audit", true);
      }
      String stack = thrown(record);
      if (stack != null) {
        line.put("exception", stack);
      }
      return line.encode() + System.lineSeparator();
    }
  }
}
