package io.qgagateway.e2e;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without qemu-ga the real-agent tests skip, except on CI, where they fail. */
class RealAgentFixtureTest {

  @Test
  void missingAgentFailsOnCi() {
    AssertionFailedError e = assertThrows(AssertionFailedError.class,
        () -> RealAgentFixture.requireQemuGa(Optional.empty(), "true"));
    assertTrue(e.getMessage().contains(".ci/setup"), e.getMessage());
  }

  @Test
  void missingAgentSkipsElsewhere() {
    TestAbortedException e = assertThrows(TestAbortedException.class,
        () -> RealAgentFixture.requireQemuGa(Optional.empty(), null));
    assertTrue(e.getMessage().contains(".ci/setup"), e.getMessage());
    assertThrows(TestAbortedException.class,
        () -> RealAgentFixture.requireQemuGa(Optional.empty(), "false"));
  }

  @Test
  void installedAgentRuns() {
    assertDoesNotThrow(() -> RealAgentFixture.requireQemuGa(
        Optional.of(Path.of("/usr/sbin/qemu-ga")), "true"));
  }
}
