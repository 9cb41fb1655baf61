package io.qgagateway.e2e;

import io.qgagateway.testing.TestVertx;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * For a {@code @RegisterExtension static} field: a real qemu-ga and a gateway with it as guest
 * {@value RealAgentFixture#GUEST} (see {@link RealAgentFixture#start}), on a Vert.x and in a
 * temporary directory of their own, for the whole test class. Without qemu-ga the class is
 * skipped, or fails in CI ({@link RealAgentFixture#requireQemuGa}).
 */
final class RealAgentExtension implements BeforeAllCallback, AfterAllCallback {

  private final boolean allowExecAndFiles;
  private final JsonObject extraConfig;
  private Path directory;
  private Vertx vertx;
  private RealAgentFixture fixture;

  RealAgentExtension(boolean allowExecAndFiles, JsonObject extraConfig) {
    this.allowExecAndFiles = allowExecAndFiles;
    this.extraConfig = extraConfig;
  }

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    RealAgentFixture.requireQemuGa();
    directory = Files.createTempDirectory("qga-e2e-");
    vertx = TestVertx.create();
    fixture = RealAgentFixture.start(vertx, directory, allowExecAndFiles, extraConfig);
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    try {
      if (fixture != null) {
        fixture.close();
      }
    } finally {
      if (vertx != null) {
        vertx.close().await(10, TimeUnit.SECONDS);
      }
      if (directory != null) {
        delete(directory);
      }
    }
  }

  Vertx vertx() {
    return vertx;
  }

  RealAgentFixture fixture() {
    return fixture;
  }

  private static void delete(Path root) throws IOException {
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
