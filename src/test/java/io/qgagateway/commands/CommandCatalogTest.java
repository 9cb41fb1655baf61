package io.qgagateway.commands;

import io.qgagateway.commands.CommandSpec.Kind;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CommandCatalogTest {

  private final CommandCatalog catalog = CommandCatalog.standard();

  /** Every row of shared/reference/qemu-ga-protocol.md's command table, in its order. */
  private static final List<String> REFERENCE = List.of(
      "guest-sync-delimited", "guest-sync", "guest-ping", "guest-info", "guest-get-time",
      "guest-set-time", "guest-shutdown", "guest-file-open", "guest-file-close",
      "guest-file-flush", "guest-file-read", "guest-file-write", "guest-file-seek",
      "guest-fsfreeze-status", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list",
      "guest-fsfreeze-thaw", "guest-fstrim", "guest-suspend-disk", "guest-suspend-ram",
      "guest-suspend-hybrid", "guest-network-get-interfaces", "guest-get-vcpus",
      "guest-set-vcpus", "guest-get-fsinfo", "guest-set-user-password",
      "guest-get-memory-blocks", "guest-set-memory-blocks", "guest-get-memory-block-info",
      "guest-exec", "guest-exec-status", "guest-get-host-name", "guest-get-users",
      "guest-get-timezone", "guest-get-osinfo", "guest-get-disks", "guest-get-devices",
      "guest-ssh-get-authorized-keys", "guest-ssh-add-authorized-keys",
      "guest-ssh-remove-authorized-keys", "guest-get-diskstats", "guest-get-cpustats",
      "guest-network-get-route", "guest-get-load");

  private static final List<String> OPERATIONS =
      List.of("run", "file-get", "file-put", "command", "sync", "wakeup", "guests");

  private CommandSpec spec(String name) {
    return catalog.byName(name).orElseThrow();
  }

  @Test
  void listsEveryAgentCommandOfTheReferenceAndTheOperations() {
    List<String> agent = catalog.all().stream().filter(s -> s.kind() == Kind.AGENT)
        .map(CommandSpec::name).toList();
    assertEquals(44, REFERENCE.size());
    assertEquals(REFERENCE, agent);
    List<String> operations = catalog.all().stream().filter(s -> s.kind() != Kind.AGENT)
        .map(CommandSpec::name).toList();
    assertEquals(OPERATIONS, operations);
  }

  @Test
  void syncsAreCataloguedButNotExposed() {
    assertFalse(spec("guest-sync").exposed());
    assertFalse(spec("guest-sync-delimited").exposed());
    assertEquals(REFERENCE.size() - 2 + OPERATIONS.size(), catalog.exposed().size());
    assertTrue(catalog.exposed().stream().allMatch(CommandSpec::exposed));
    // agent.sync is the gateway's resync, not guest-sync
    assertEquals("sync", catalog.byAddress("sync").orElseThrow().name());
    assertTrue(catalog.byAddress("sync-delimited").isEmpty());
  }

  @Test
  void addressesAreTheNameWithoutGuestPrefix() {
    CommandSpec fstrim = catalog.byAddress("fstrim").orElseThrow();
    assertEquals("guest-fstrim", fstrim.name());
    assertEquals("agent.fstrim", fstrim.address());
    assertEquals("agent.fsfreeze-freeze-list",
        spec("guest-fsfreeze-freeze-list").address());
    assertEquals("agent.run", spec("run").address());
    assertTrue(catalog.byAddress("guest-fstrim").isEmpty());
    assertTrue(catalog.byAddress("nope").isEmpty());
    assertTrue(catalog.byName("fstrim").isEmpty());
  }

  @Test
  void onlyShutdownAndSuspendHaveNoSuccessResponse() {
    Set<String> silent = catalog.all().stream().filter(s -> !s.successResponse())
        .map(CommandSpec::name).collect(Collectors.toSet());
    assertEquals(Set.of("guest-shutdown", "guest-suspend-disk", "guest-suspend-ram",
        "guest-suspend-hybrid"), silent);
  }

  @Test
  void defaultTimeouts() {
    assertEquals(3_000, spec("guest-ping").timeoutMs());
    assertEquals(10_000, spec("guest-get-osinfo").timeoutMs());
    assertEquals(10_000, spec("guest-info").timeoutMs());
    assertEquals(600_000, spec("guest-fstrim").timeoutMs());
    assertEquals(3_600_000, spec("guest-fsfreeze-freeze").timeoutMs());
    assertEquals(3_600_000, spec("guest-fsfreeze-freeze-list").timeoutMs());
    assertEquals(10_000, spec("guest-shutdown").timeoutMs());
    assertEquals(10_000, spec("guest-suspend-ram").timeoutMs());
    assertEquals(60_000, spec("guest-file-read").timeoutMs());
    assertEquals(30_000, spec("guest-exec").timeoutMs());
    assertEquals(60_000, spec("run").timeoutMs());
    assertTrue(catalog.all().stream().allMatch(s -> s.timeoutMs() > 0
        && s.timeoutMs() <= CommandCatalog.MAX_TIMEOUT_MS));
  }

  @Test
  void mutatingSet() {
    Set<String> mutating = catalog.all().stream().filter(CommandSpec::mutating)
        .map(CommandSpec::name).collect(Collectors.toSet());
    assertEquals(Set.of("guest-set-time", "guest-shutdown", "guest-file-open",
        "guest-file-flush", "guest-file-write", "guest-fsfreeze-freeze",
        "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw", "guest-fstrim",
        "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid", "guest-set-vcpus",
        "guest-set-user-password", "guest-set-memory-blocks", "guest-exec",
        "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys",
        "run", "file-put", "command", "wakeup"), mutating);
  }

  @Test
  void onlyFreezesTakeAutoThaw() {
    Set<String> freezes = catalog.all().stream().filter(CommandSpec::freezes)
        .map(CommandSpec::name).collect(Collectors.toSet());
    assertEquals(Set.of("guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list"), freezes);
  }

  @Test
  void secretParametersAreExactlyTheContractsSecrets() {
    Set<String> secret = catalog.all().stream().flatMap(s -> s.params().stream())
        .filter(ParamSpec::secret).map(ParamSpec::name).collect(Collectors.toSet());
    assertEquals(Redactor.SECRET_NAMES, secret);
  }

  @Test
  void parametersFollowTheSchema() {
    CommandSpec exec = spec("guest-exec");
    assertEquals(List.of("path", "arg", "env", "input-data", "capture-output"),
        exec.params().stream().map(ParamSpec::name).toList());
    assertTrue(exec.param("path").orElseThrow().required());
    assertEquals("boolean or one of \"none\", \"stdout\", \"stderr\", \"separated\", \"merged\"",
        exec.param("capture-output").orElseThrow().type().describe());
    assertEquals("integer or one of \"set\", \"cur\", \"end\"",
        spec("guest-file-seek").param("whence").orElseThrow().type().describe());
    assertEquals("array of object",
        spec("guest-set-vcpus").param("vcpus").orElseThrow().type().describe());
    assertEquals(List.of("username", "password", "crypted"), spec("guest-set-user-password")
        .params().stream().filter(ParamSpec::required).map(ParamSpec::name).toList());
    assertEquals("10.0", spec("guest-get-load").since());
    assertEquals("0.15", spec("guest-ping").since());
    assertTrue(spec("guest-info").params().isEmpty());
  }

  @Test
  void timeoutOverridesReturnANewCatalog() {
    CommandCatalog tuned = catalog.withTimeouts(Map.of("guest-fstrim", 1_200_000L,
        "run", 5_000L));
    assertEquals(1_200_000, tuned.byName("guest-fstrim").orElseThrow().timeoutMs());
    assertEquals(1_200_000, tuned.byAddress("fstrim").orElseThrow().timeoutMs());
    assertEquals(5_000, tuned.byAddress("run").orElseThrow().timeoutMs());
    assertEquals(600_000, catalog.byName("guest-fstrim").orElseThrow().timeoutMs());
    assertEquals(catalog.all().size(), tuned.all().size());
  }

  @Test
  void timeoutOverridesRejectUnknownNamesAndBadValues() {
    IllegalArgumentException typo = assertThrows(IllegalArgumentException.class,
        () -> catalog.withTimeouts(Map.of("guest-fstrm", 1L)));
    assertTrue(typo.getMessage().contains("guest-fstrm"), typo.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> catalog.withTimeouts(Map.of("fstrim", 1L)));
    assertThrows(IllegalArgumentException.class,
        () -> catalog.withTimeouts(Map.of("guest-sync", 1L)));
    IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
        () -> catalog.withTimeouts(Map.of("guest-ping", 0L)));
    assertTrue(zero.getMessage().contains("guest-ping"), zero.getMessage());
    assertThrows(IllegalArgumentException.class, () -> catalog.withTimeouts(
        Map.of("guest-ping", CommandCatalog.MAX_TIMEOUT_MS + 1)));
  }
}
