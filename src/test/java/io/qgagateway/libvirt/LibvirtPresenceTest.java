package io.qgagateway.libvirt;

import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which backends a machine gets, and the refusal of sockets libvirt owns. */
class LibvirtPresenceTest {

  private static final String SOCK = "/run/libvirt/libvirt-sock";
  private static final String CHANNELS = "/var/lib/libvirt/qemu/channel/target";

  private static GatewayConfig config(JsonObject json) {
    return GatewayConfig.parse(json);
  }

  private static LibvirtPresence.Decision decide(JsonObject json, boolean daemon,
                                                 boolean library) {
    return LibvirtPresence.decide(config(json), uri -> daemon ? SOCK : null,
        () -> library ? null : "UnsatisfiedLinkError: libvirt.so.0: not found");
  }

  private static JsonObject discovering(String directory) {
    return new JsonObject().put("discovery", new JsonArray()
        .add(new JsonObject().put("directory", directory)));
  }

  @Test
  void withoutLibvirtTheGatewayStartsAsBeforeOnSocketsAlone() {
    LibvirtPresence.Decision d = decide(new JsonObject(), false, false);
    assertFalse(d.useLibvirt());
    assertFalse(d.libvirtHost());
    // even libvirt's directory: nobody owns its sockets when no libvirtd runs
    assertFalse(decide(discovering(CHANNELS), false, false).useLibvirt());
  }

  @Test
  void whereLibvirtdRunsTheDefaultUsesLibvirt() {
    LibvirtPresence.Decision d = decide(new JsonObject(), true, true);
    assertTrue(d.useLibvirt());
    assertEquals("qemu:///system", d.uri());
    assertEquals(SOCK, d.daemonSocket());
  }

  @Test
  void discoveryOfLibvirtsChannelDirectoryIsRefusedWhereLibvirtdRuns() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> decide(discovering(CHANNELS), true, true));
    assertTrue(e.getMessage().startsWith("discovery[0].directory: " + CHANNELS
        + " is libvirt's agent channel directory"), e.getMessage());
    assertTrue(e.getMessage().contains("lock libvirt out"), e.getMessage());
    assertTrue(e.getMessage().contains("Remove this discovery entry"), e.getMessage());
    // a parent of it, or one domain's directory inside it, too; and with libvirt switched off
    assertThrows(ConfigException.class, () -> decide(discovering("/var/lib/libvirt"), true, true));
    assertThrows(ConfigException.class,
        () -> decide(discovering(CHANNELS + "/domain-1-vm"), true, true));
    JsonObject off = discovering(CHANNELS).put("libvirt", new JsonObject().put("enabled", false));
    assertThrows(ConfigException.class, () -> decide(off, true, true));
    // other directories are fine
    assertTrue(decide(discovering("/run/qemu-guests"), true, true).useLibvirt());
  }

  @Test
  void aStaticGuestOnALibvirtSocketIsRefusedWhereLibvirtdRuns() {
    JsonObject json = new JsonObject().put("guests", new JsonArray().add(new JsonObject()
        .put("name", "vm-1").put("socket", CHANNELS + "/domain-1-vm-1/org.qemu.guest_agent.0")));
    ConfigException e = assertThrows(ConfigException.class, () -> decide(json, true, true));
    assertTrue(e.getMessage().startsWith("guests[0].socket: "), e.getMessage());
    assertFalse(decide(json, false, false).libvirtHost());
  }

  @Test
  void libvirtdWithoutItsLibraryStopsTheStartWithWhatToDo() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> decide(new JsonObject(), true, false));
    assertTrue(e.getMessage().contains("install libvirt0"), e.getMessage());
    assertTrue(e.getMessage().contains("libvirt.enabled: false"), e.getMessage());
    JsonObject off = new JsonObject().put("libvirt", new JsonObject().put("enabled", false));
    LibvirtPresence.Decision d = decide(off, true, false);
    assertFalse(d.useLibvirt());
    assertTrue(d.libvirtHost());
  }

  @Test
  void enabledTrueNeedsTheLibraryButNotTheDaemonYet() {
    JsonObject on = new JsonObject().put("libvirt", new JsonObject().put("enabled", true)
        .put("uri", "qemu+ssh://root@127.0.0.1/system"));
    assertTrue(decide(on, false, true).useLibvirt());
    assertThrows(ConfigException.class, () -> decide(on, false, false));
  }

  @Test
  void theDaemonSocketIsFoundForLocalSystemUrisOnly() {
    assertNull(LibvirtPresence.daemonSocket("qemu+ssh://host/system"));
    assertNull(LibvirtPresence.daemonSocket("qemu:///session"));
    assertNull(LibvirtPresence.daemonSocket("qemu:///system?socket=/nonexistent/sock"));
  }

  @Test
  void theLibvirtSectionIsParsedStrictly() {
    GatewayConfig c = config(new JsonObject().put("libvirt", new JsonObject()
        .put("enabled", "auto").put("uri", "qemu:///system").put("workers", 4)
        .put("connections", 2)
        .put("keepStoppedMs", 0)));
    assertEquals(LibvirtOptions.Mode.AUTO, c.libvirt().enabled());
    assertEquals(4, c.libvirt().workers());
    assertEquals(2, c.libvirt().connections());
    assertEquals(LibvirtOptions.Mode.TRUE, config(new JsonObject().put("libvirt",
        new JsonObject().put("enabled", true))).libvirt().enabled());
    assertEquals(LibvirtOptions.DEFAULTS, config(new JsonObject()).libvirt());
    assertEquals("libvirt.enabled: expected auto, true or false, got 'maybe'",
        assertThrows(ConfigException.class, () -> config(new JsonObject().put("libvirt",
            new JsonObject().put("enabled", "maybe")))).getMessage());
    assertEquals("libvirt.url: unknown key", assertThrows(ConfigException.class,
        () -> config(new JsonObject().put("libvirt", new JsonObject().put("url", "x"))))
        .getMessage());
    assertThrows(ConfigException.class, () -> config(new JsonObject().put("libvirt",
        new JsonObject().put("workers", 0))));
  }

  @Test
  void theAgentChannelAndItsStateAreReadFromTheDomainXml() {
    String xml = """
        <domain type='qemu'><name>vm</name><devices>
          <channel type='unix'>
            <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-1-vm/org.qemu.guest_agent.0'/>
            <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
          </channel>
          <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
        </devices></domain>""";
    assertEquals(new DomainXml.AgentChannel(true, true), DomainXml.agentChannel(xml));
    assertEquals(new DomainXml.AgentChannel(true, false),
        DomainXml.agentChannel(xml.replace("state='connected'", "state='disconnected'")));
    assertFalse(DomainXml.agentChannel("<domain><devices/></domain>").present());
  }

  @Test
  void libvirtErrorsMapToTheContract() {
    assertEquals(503, LibvirtFailures.of(new HypervisorException(55, 10,
        "Requested operation is not valid: domain is not running"), "vm", 1000).failureCode());
    assertEquals(503, LibvirtFailures.of(new HypervisorException(86, 10,
        "Guest agent is not responding: QEMU guest agent is not connected"), "vm", 1000)
        .failureCode());
    assertEquals(504, LibvirtFailures.of(new HypervisorException(86, 10,
        "Guest agent is not responding: Guest agent not available for now"), "vm", 1000)
        .failureCode());
    var unsupported = LibvirtFailures.of(new HypervisorException(84, 10,
        "Operation not supported: Domain does not have suspend support"), "vm", 1000);
    assertEquals(501, unsupported.failureCode());
    assertEquals("Unsupported", unsupported.agentClass());
    assertEquals(501, LibvirtFailures.of(new HypervisorException(55, 10,
        "Requested operation is not valid: S3 state is disabled for this domain"), "vm", 1000)
        .failureCode());
    var disabled = LibvirtFailures.of(new HypervisorException(1, 10, "internal error: unable to "
        + "execute QEMU agent command 'guest-exec': Command guest-exec has been disabled"), "vm",
        1000);
    assertEquals(501, disabled.failureCode());
    assertEquals("CommandNotFound", disabled.agentClass());
  }
}
