package io.qgagateway.config;

import io.qgagateway.Gateway;
import io.qgagateway.commands.CommandRules;
import io.qgagateway.k8s.ManifestsTest;
import io.qgagateway.link.GuestTarget;
import io.qgagateway.link.LinkOptions;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link GatewayConfig#parse} and {@link Gateway#rules}: every mistake named by its full path. */
class GatewayConfigTest {

  static JsonObject yaml(String text) {
    Object tree = new Yaml().load(text);
    return tree == null ? new JsonObject() : new JsonObject(Json.encode(tree));
  }

  static JsonObject json(String text) {
    return new JsonObject(text);
  }

  /** Parses and checks what needs the catalog, like the start-up does. */
  static GatewayConfig parseAndCheck(JsonObject config) {
    GatewayConfig parsed = GatewayConfig.parse(config);
    Gateway.rules(parsed);
    return parsed;
  }

  private static String failure(JsonObject config) {
    return assertThrows(ConfigException.class, () -> parseAndCheck(config)).getMessage();
  }

  private static void assertFailure(String expectedStart, JsonObject config) {
    String message = failure(config);
    assertTrue(message.startsWith(expectedStart), "expected '" + expectedStart + "...', got: "
        + message);
  }

  @Test
  void aProbeSilenceOutsideItsRangeIsRefusedNamingTheKey() {
    assertFailure("cluster.silentAfterMs", yaml("cluster: { silentAfterMs: 100 }"));
    assertEquals(4_000, GatewayConfig.parse(yaml("cluster: { silentAfterMs: 4000 }")).cluster()
        .silentAfterMs());
  }

  @Test
  void emptyConfigurationGivesTheDocumentedDefaults() {
    GatewayConfig c = GatewayConfig.parse(new JsonObject());
    assertEquals(List.of(), c.guests());
    assertEquals(List.of(), c.discovery());
    assertEquals(new GatewayConfig.Http(true, "127.0.0.1", 8080, null), c.http());
    assertEquals(new GatewayConfig.Bridge(false, "127.0.0.1", 7000), c.bridge());
    assertFalse(c.cluster().enabled());
    // membership is slow to decide, routing quick (docs/ARCHITECTURE.md, "Who holds which guest")
    assertEquals(10, c.cluster().failureDetectionSeconds());
    assertEquals(2_500, c.cluster().silentAfterMs());
    assertEquals(600_000, c.autoThawMs());
    assertEquals(LinkOptions.DEFAULTS, c.link());
    assertEquals(new GatewayConfig.Metrics(true, false), c.metrics());
    assertFalse(c.jsonLogging());
    assertEquals(new GatewayConfig.Demo(0, false), c.demo());
    assertEquals(new GatewayConfig.VertxSettings("auto", 0), c.vertx());
    assertTrue(c.policy().isEmpty());
    assertTrue(c.nodeName() != null && !c.nodeName().isEmpty());
    assertTrue(GatewayConfig.parse(null).guests().isEmpty());
    Gateway.rules(c);
  }

  @Test
  void theApiExampleParses() {
    GatewayConfig c = parseAndCheck(yaml("""
        guests:
          - name: vm-1
            socket: /var/lib/libvirt/qemu/channel/target/domain-1-vm-1/org.qemu.guest_agent.0
          - name: vm-2
            tcp: 127.0.0.1:4444
        discovery:
          - directory: /var/lib/libvirt/qemu/channel/target
            pattern: 'domain-[0-9]+-(?<name>[^/]+)/org\\.qemu\\.guest_agent\\.0'
        http:   { host: 127.0.0.1, port: 8080, token: null }
        bridge: { enabled: false, host: 127.0.0.1, port: 7000 }
        policy:
          allow: [guest-exec, run, "guest-file-*"]
          deny:  [guest-shutdown]
        timeouts:
          guest-fstrim: 1200000
        """));
    assertEquals(List.of(GuestTarget.unix("vm-1",
            "/var/lib/libvirt/qemu/channel/target/domain-1-vm-1/org.qemu.guest_agent.0"),
        GuestTarget.tcp("vm-2", "127.0.0.1:4444")), c.guests());
    assertTrue(c.discovery().get(0).pattern()
        .matcher("domain-3-web/org.qemu.guest_agent.0").matches());
    assertNull(c.http().token());
    CommandRules rules = Gateway.rules(c);
    assertTrue(rules.policy().allows("guest-exec"));
    assertTrue(rules.policy().allows("guest-file-read"));
    assertFalse(rules.policy().allows("guest-shutdown"));
    assertEquals(1_200_000, rules.catalog().byName("guest-fstrim").orElseThrow().timeoutMs());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      htp: {}                                            | htp: unknown key
      http: {prot: 80}                                   | http.prot: unknown key
      bridge: {enable: true}                             | bridge.enable: unknown key
      node: {nme: x}                                     | node.nme: unknown key
      cluster: {kubernetes: {enabled: true, dns: x}}     | cluster.kubernetes.dns: unknown key
      cluster: {member: []}                              | cluster.member: unknown key
      freeze: {autothawMs: 1}                            | freeze.autothawMs: unknown key
      link: {queSize: 1}                                 | link.queSize: unknown key
      metrics: {guestlabel: true}                        | metrics.guestlabel: unknown key
      logging: {jsn: true}                               | logging.jsn: unknown key
      demo: {simulate: 1}                                | demo.simulate: unknown key
      shutdown: {drain: 1}                               | shutdown.drain: unknown key
      vertx: {transprt: epoll}                           | vertx.transprt: unknown key
      vertx: {transport: uring}                          | vertx.transport: expected one of auto, io_uring, epoll, nio, got 'uring'
      vertx: {eventLoops: -1}                            | vertx.eventLoops:
      discovery: [{directory: /d, patern: x}]            | discovery[0].patern: unknown key
      'guests: [{name: a, socket: /a}, {name: b, sockt: /b}]' | guests[1].sockt: unknown key
      policy: {alow: [guest-exec]}                       | policy.alow: unknown key
      policy: {allow: [guest-exce]}                      | policy.allow: unknown command or operation 'guest-exce'
      policy: {deny: [nothing-*]}                        | policy.deny: unknown command or operation 'nothing-*'
      timeouts: {guest-pign: 1000}                       | timeouts.guest-pign: unknown command or operation
      timeouts: {guest-sync: 1000}                       | timeouts.guest-sync: unknown command or operation
      """)
  void unknownKeysAreNamedByTheirFullPath(String config, String expected) {
    assertFailure(expected, yaml(config));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      http: []                                      | http: expected a mapping
      http: {port: '8080'}                          | http.port: expected a whole number
      http: {port: 80.5}                            | http.port: expected a whole number
      http: {port: 70000}                           | http.port: must be between 0 and 65535
      http: {host: 1}                               | http.host: expected a string
      http: {enabled: 'yes'}                        | http.enabled: expected true or false
      http: {maxBodyBytes: 100}                     | http.maxBodyBytes: must be between 1024 and
      http: {maxInFlightBodyBytes: 1048576}         | http.maxInFlightBodyBytes: must be between 2097152 and
      http: {maxBodyBytes: 100000000}               | http.maxInFlightBodyBytes: must be at least http.maxBodyBytes (100000000)
      http: {maxUploadBytes: 0}                     | http.maxUploadBytes: must be between 1 and
      http: {bodyIdleTimeoutMs: 10}                 | http.bodyIdleTimeoutMs: must be between 100 and
      bridge: {enabled: 1}                          | bridge.enabled: expected true or false
      guests: {name: a}                             | guests: expected a list
      guests: [vm-1]                                | guests[0]: expected a mapping
      'guests: [{name: a, socket: /a}, {name: 7, socket: /b}]' | guests[1].name: expected a string
      cluster: {members: [1]}                       | cluster.members[0]: expected a string
      cluster: {members: 'a,b'}                     | cluster.members: expected a list of strings
      cluster: {kubernetes: {enabled: true}}        | cluster.kubernetes.serviceDns: required
      freeze: {autoThawMs: -1}                      | freeze.autoThawMs: must be between 0 and
      link: {queueSize: 0}                          | link.queueSize: must be between 1 and
      link: {reconnectInitialMs: 500, reconnectMaxMs: 100} | link timings must be positive
      policy: [guest-exec]                          | policy: expected a mapping
      policy: {allow: guest-exec}                   | policy.allow: expected a list of names
      policy: {allow: [1]}                          | policy.allow[0]: expected a name
      timeouts: {guest-ping: fast}                  | timeouts.guest-ping: expected milliseconds
      timeouts: {guest-ping: 1.5}                   | timeouts.guest-ping: expected milliseconds
      timeouts: {guest-ping: 0}                     | timeouts.guest-ping: must be 1..
      discovery: [{pattern: 'x(?<name>.*)'}]        | discovery[0].directory: required
      discovery: [{directory: /d, pattern: '(?<name>['}] | discovery[0].pattern: not a regular expression
      discovery: [{directory: /d, pattern: 'domain-(.*)'}] | discovery[0].pattern: needs a named group (?<name>...)
      discovery: [{directory: /d, scanIntervalMs: 0}] | discovery[0].scanIntervalMs: must be between 100 and
      """)
  void wrongTypesAndValuesAreNamed(String config, String expected) {
    assertFailure(expected, yaml(config));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      [{socket: /a}]                                | guests[0].name: required
      [{name: '-bad', socket: /a}]                  | guests[0].name: '-bad' is not a valid guest name
      [{name: a}]                                   | guests[0].socket: give exactly one of socket or tcp
      [{name: a, socket: /a, tcp: '127.0.0.1:1'}]   | guests[0].socket: give exactly one of socket or tcp
      [{name: a, socket: /a}, {name: a, socket: /b}] | guests[1].name: guest 'a' is listed twice
      [{name: a, tcp: '127.0.0.1'}]                 | guests[0].tcp: tcp address must be host:port
      [{name: a, tcp: ':4444'}]                     | guests[0].tcp: tcp address must be host:port
      [{name: a, tcp: 'host:'}]                     | guests[0].tcp: tcp address must be host:port
      [{name: a, tcp: '[]:4444'}]                   | guests[0].tcp: tcp address has no host
      [{name: a, tcp: 'host:port'}]                 | guests[0].tcp: tcp port must be a number
      [{name: a, tcp: 'host:0'}]                    | guests[0].tcp: tcp port out of range
      [{name: a, tcp: 'host:65536'}]                | guests[0].tcp: tcp port out of range
      [{name: b, socket: /b}, {name: a, tcp: 1}]    | guests[1].tcp: expected a string
      """)
  void guestMistakesAreNamed(String guests, String expected) {
    assertFailure(expected, yaml("guests: " + guests));
  }

  @Test
  void tcpGuestsAcceptIpv6AndHostNames() {
    GatewayConfig c = GatewayConfig.parse(yaml("""
        guests:
          - {name: v6, tcp: '[::1]:4444'}
          - {name: named, tcp: 'localhost:65535'}
        """));
    assertEquals(2, c.guests().size());
    assertEquals(GuestTarget.Transport.TCP, c.guests().get(0).transport());
  }

  @Test
  void theKubernetesConfigMapParsesAndPassesThePolicyAndTimeoutChecks() {
    JsonObject config = yaml(ManifestsTest.configFromConfigMap());
    GatewayConfig c = parseAndCheck(config);
    assertTrue(c.cluster().enabled());
    assertTrue(c.cluster().kubernetes());
    assertEquals("0.0.0.0", c.http().host());
    assertFalse(c.metrics().guestLabel());
    assertEquals(List.of(), c.discovery());
    assertEquals(io.qgagateway.libvirt.LibvirtOptions.Mode.TRUE, c.libvirt().enabled());
  }

  @Test
  void theRepositorysConfigYamlParses() throws IOException {
    Path file = Path.of(System.getProperty("basedir", "")).toAbsolutePath()
        .resolve("conf/config.yaml");
    GatewayConfig c = parseAndCheck(yaml(Files.readString(file)));
    assertEquals(new GatewayConfig.Demo(2, true), c.demo());
    assertEquals(600_000, c.autoThawMs());
  }

  @Test
  void theFirstWrongKeyIsReportedEvenNextToValidOnes() {
    JsonObject config = json("""
        {"http": {"host": "0.0.0.0", "port": 9000}, "guests": [{"name": "a", "socket": "/a"}],
         "metrics": {"enabled": true, "guestLabel": true, "extra": 1}}""");
    assertEquals("metrics.extra: unknown key", failure(config));
    config.getJsonObject("metrics").remove("extra");
    GatewayConfig c = parseAndCheck(config);
    assertEquals(9000, c.http().port());
    assertTrue(c.metrics().guestLabel());
  }

  @Test
  void nullValuesMeanTheDefault() {
    GatewayConfig c = parseAndCheck(json("""
        {"node": {"name": null}, "http": {"token": null, "port": null}, "guests": null,
         "policy": null, "timeouts": null}"""));
    assertEquals(8080, c.http().port());
    assertNull(c.http().token());
    assertTrue(c.guests().isEmpty());
  }
}
