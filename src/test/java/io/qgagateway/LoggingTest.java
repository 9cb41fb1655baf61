package io.qgagateway;

import io.qgagateway.commands.Audit;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** logging.json: one parseable JSON object per line, the audit logger's lines marked. */
class LoggingTest {

  @Test
  void jsonLinesParseAndMarkTheAuditLog() {
    Logging.JsonFormatter formatter = new Logging.JsonFormatter();
    LogRecord audit = new LogRecord(Level.INFO, "guest=vm-1 command=guest-fstrim \"quoted\"");
    audit.setLoggerName(Audit.LOGGER);
    String line = formatter.format(audit);
    assertTrue(line.endsWith(System.lineSeparator()));
    assertFalse(line.strip().contains("\n"), "one line per record");
    JsonObject json = new JsonObject(line);
    assertEquals("INFO", json.getString("level"));
    assertEquals(Audit.LOGGER, json.getString("logger"));
    assertEquals("guest=vm-1 command=guest-fstrim \"quoted\"", json.getString("message"));
    assertTrue(json.getBoolean("audit"));

    LogRecord failure = new LogRecord(Level.SEVERE, "boom");
    failure.setLoggerName("io.qgagateway.Gateway");
    failure.setThrown(new IllegalStateException("why"));
    JsonObject error = new JsonObject(formatter.format(failure));
    assertFalse(error.containsKey("audit"));
    assertTrue(error.getString("exception").contains("IllegalStateException: why"));
  }

  @Test
  void plainLinesNameLevelAndLogger() {
    LogRecord record = new LogRecord(Level.WARNING, "guest vm-1 auto-thawed");
    record.setLoggerName("io.qgagateway.commands.FreezeGuard");
    String line = new Logging.LineFormatter().format(record);
    assertTrue(line.contains(" WARNING FreezeGuard - guest vm-1 auto-thawed"), line);
  }
}
