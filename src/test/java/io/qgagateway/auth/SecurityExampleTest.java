package io.qgagateway.auth;

import io.qgagateway.config.GatewayConfig;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The worked example of docs/SECURITY.md is a valid configuration and grants what its table
 * says (the policy rows are AuthTest's and PolicyTest's).
 */
class SecurityExampleTest {

  private static GatewayConfig example() throws Exception {
    String doc = Files.readString(Path.of(System.getProperty("basedir", ""))
        .toAbsolutePath().resolve("docs/SECURITY.md"));
    int start = doc.indexOf("```yaml\n", doc.indexOf("## Worked example")) + 8;
    String yaml = doc.substring(start, doc.indexOf("```", start));
    return GatewayConfig.parse(new JsonObject(Json.encode(new Yaml().load(yaml))));
  }

  private static boolean may(AccessRules rules, Principal p, CommandClass cls, String guest) {
    return rules.denial(p, cls, guest).isEmpty();
  }

  @Test
  void theThreePrincipalsGetWhatTheTableSays() throws Exception {
    GatewayConfig config = example();
    assertEquals(3, config.auth().tokens().size());
    AccessRules rules = AccessRules.of(config.auth());
    Principal monitoring = new Principal("monitoring", Set.of("readers"), false);
    Principal backup = new Principal("backup", Set.of(), false);
    Principal operator = new Principal("operator", Set.of(), false);

    assertTrue(may(rules, monitoring, CommandClass.READ, "web-1"));
    assertTrue(!may(rules, monitoring, CommandClass.FILESYSTEM, "db-1"));
    assertTrue(!may(rules, backup, CommandClass.READ, "web-1"));
    assertTrue(may(rules, backup, CommandClass.FILESYSTEM, "db-1"));
    assertTrue(!may(rules, backup, CommandClass.FILESYSTEM, "web-1"));
    assertTrue(!may(rules, backup, CommandClass.EXEC, "db-1"));
    assertTrue(!may(rules, backup, CommandClass.PASSTHROUGH, "db-1"));
    for (CommandClass cls : CommandClass.values()) {
      assertEquals(cls != CommandClass.CREDENTIALS, may(rules, operator, cls, "anything"),
          cls.label());
    }
    assertEquals(10, config.auth().rateLimits().get(CommandClass.EXEC).burst());
  }

  @Test
  void guestPatternsAreGlobsNotRegularExpressions() {
    assertTrue(AccessRules.glob("db-*").matcher("db-1").matches());
    assertTrue(!AccessRules.glob("db-*").matcher("xdb-1").matches());
    assertTrue(!AccessRules.glob("db.1").matcher("dbx1").matches());
    assertTrue(AccessRules.glob("*").matcher("anything").matches());
    assertTrue(AccessRules.glob("a*b*c").matcher("a-b-c").matches());
  }
}
