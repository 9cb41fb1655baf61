package io.qgagateway.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The alert rules of {@code k8s/base/prometheusrule.yaml} through Prometheus' own tool: their
 * groups, taken out of the PrometheusRule, pass {@code promtool check rules}, and the unit tests
 * of {@code src/test/resources/k8s/prometheusrule.test.yaml} pass {@code promtool test rules}
 * (a gateway down, one that left the cluster, a split cluster, name conflicts, timeouts named by
 * the holding pod). Needs {@code promtool} (Debian's {@code prometheus} package, which
 * {@code .ci/setup} installs); without it the test is skipped, except in CI ({@code CI=true}),
 * where it fails saying so.
 */
class AlertRulesTest {

  @TempDir
  static Path dir;

  private static String promtool;

  @BeforeAll
  static void findPromtool() throws IOException {
    promtool = onPath("promtool");
    if (promtool == null) {
      String why = "promtool not found on PATH: install Debian's prometheus package "
          + "(apt-get install prometheus; .ci/setup does)";
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        fail(why);
      }
      Assumptions.abort(why);
    }
    ObjectNode rules = JsonNodeFactory.instance.objectNode();
    rules.set("groups", ManifestsTest.spec("prometheusrule.yaml").path("groups"));
    ManifestsTest.YAML.writeValue(dir.resolve("rules.yaml").toFile(), rules);
    try (InputStream tests = AlertRulesTest.class
        .getResourceAsStream("/k8s/prometheusrule.test.yaml")) {
      assertNotNull(tests, "src/test/resources/k8s/prometheusrule.test.yaml");
      Files.copy(tests, dir.resolve("prometheusrule.test.yaml"),
          StandardCopyOption.REPLACE_EXISTING);
    }
  }

  @Test
  void promtoolChecksTheRules() throws Exception {
    String out = promtool("check", "rules", "rules.yaml");
    JsonNode groups = ManifestsTest.spec("prometheusrule.yaml").path("groups");
    int rules = 0;
    for (JsonNode g : groups) {
      rules += g.path("rules").size();
    }
    assertTrue(out.contains("SUCCESS: " + rules + " rules found"), out);
  }

  @Test
  void theAlertsFireForWhatTheyNameAndOnlyThen() throws Exception {
    String out = promtool("test", "rules", "prometheusrule.test.yaml");
    assertTrue(out.contains("SUCCESS"), out);
  }

  private static String promtool(String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(promtool);
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool did not finish");
    assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + out);
    return out;
  }

  private static String onPath(String name) {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String d : path.split(File.pathSeparator)) {
      Path candidate = Path.of(d, name);
      if (Files.isExecutable(candidate)) {
        return candidate.toString();
      }
    }
    return null;
  }
}
