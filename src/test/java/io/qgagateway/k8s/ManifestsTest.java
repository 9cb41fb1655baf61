package io.qgagateway.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Checks the Kubernetes manifests in {@code k8s/} against the Kubernetes object model, against
 * each other (ports, paths, names) and against the gateway's documented metrics.
 *
 * <p>Two static helpers are meant for other tests: {@link #configFromConfigMap()} gives the
 * gateway configuration the DaemonSet runs with, {@link #metricNamesUsedByManifests()} the
 * series names that the alerts and the dashboard query.
 */
public class ManifestsTest {

  static final Path K8S = Path.of(System.getProperty("basedir", "")).toAbsolutePath().resolve("k8s");
  static final Path BASE = K8S.resolve("base");

  /** The metrics of METRICS.md (v1): name, type, labels and their documented values. */
  static final Map<String, Metric> CONTRACT_METRICS = Stream.of(
          new Metric("qga_command_duration_seconds", "histogram", Map.of(
              "command", Set.of(),  // any agent command or gateway operation
              "outcome", Set.of("ok", "sent", "bad_request", "forbidden", "unknown_guest",
                  "frozen", "busy", "unsupported", "agent_error", "not_connected", "timeout",
                  "error"))),
          new Metric("qga_resyncs_total", "counter", Map.of(
              "reason", Set.of("connect", "timeout", "protocol_error", "after_no_response",
                  "manual"))),
          new Metric("qga_sync_duration_seconds", "histogram", Map.of()),
          new Metric("qga_discarded_total", "counter", Map.of(
              "kind", Set.of("stale_reply", "stray_error", "garbage", "oversized"))),
          new Metric("qga_guests", "gauge", Map.of(
              "state", Set.of("connecting", "syncing", "ready", "disconnected"))),
          new Metric("qga_connects_total", "counter", Map.of()),
          new Metric("qga_disconnects_total", "counter", Map.of()),
          new Metric("qga_queue_depth", "gauge", Map.of()),
          new Metric("qga_frozen_guests", "gauge", Map.of()),
          new Metric("qga_auto_thaws_total", "counter", Map.of()))
      .collect(Collectors.toMap(Metric::name, m -> m, (a, b) -> a, LinkedHashMap::new));

  /** The gateway's metrics beyond the contract, documented in docs/METRICS.md. */
  static final Map<String, Metric> ADDED_METRICS = Stream.of(
          new Metric("qga_reply_matching_guests", "gauge", Map.of("mode", Set.of("id", "order"))),
          new Metric("qga_refused_requests_total", "counter", Map.of(
              "reason", Set.of("publish", "no_reply_address"))),
          new Metric("qga_cluster_members", "gauge", Map.of()),
          new Metric("qga_cluster_member_up", "gauge", Map.of("member", Set.of())),
          new Metric("qga_cluster_remote_guests", "gauge", Map.of(
              "reachable", Set.of("true", "false"))),
          new Metric("qga_guest_name_conflicts", "gauge", Map.of()),
          new Metric("qga_denied_total", "counter", Map.of(
              "reason", Set.of("unauthenticated", "no_credentials", "identity_header",
                  "invalid_principal", "policy", "not_granted", "rate_limited"),
              "principal", Set.of())))
      .collect(Collectors.toMap(Metric::name, m -> m, (a, b) -> a, LinkedHashMap::new));

  /** Both: what the manifests may query. */
  static final Map<String, Metric> DOCUMENTED_METRICS = Stream.concat(
          CONTRACT_METRICS.values().stream(), ADDED_METRICS.values().stream())
      .collect(Collectors.toMap(Metric::name, m -> m, (a, b) -> a, LinkedHashMap::new));

  /** Labels that Prometheus (through the ServiceMonitor) adds to every scraped series. */
  static final Set<String> TARGET_LABELS =
      Set.of("namespace", "pod", "job", "instance", "service", "endpoint", "container");

  static final List<String> HISTOGRAM_SUFFIXES = List.of("_bucket", "_count", "_sum");

  record Metric(String name, String type, Map<String, Set<String>> labels) {
    /** The series names this metric has in the Prometheus text exposition. */
    Set<String> seriesNames() {
      return type.equals("histogram")
          ? HISTOGRAM_SUFFIXES.stream().map(s -> name + s).collect(Collectors.toSet())
          : Set.of(name);
    }
  }

  static final KubernetesSerialization K8S_SERIALIZATION = new KubernetesSerialization();
  static final ObjectMapper YAML = new YAMLMapper();
  static final ObjectMapper JSON = new ObjectMapper();

  // ---------------------------------------------------------------------------------------
  // Helpers for other tests

  /** The gateway configuration (YAML) that the ConfigMap hands to the DaemonSet. */
  public static String configFromConfigMap() {
    ConfigMap cm = load("configmap.yaml", ConfigMap.class);
    String config = cm.getData().get(CONFIG_KEY);
    if (config == null) {
      throw new IllegalStateException("configmap.yaml has no data." + CONFIG_KEY);
    }
    return config;
  }

  /** The gateway container's JVM flags ({@code JAVA_TOOL_OPTIONS}), as the pods get them. */
  public static String javaToolOptions() {
    return env(gateway(), "JAVA_TOOL_OPTIONS").getValue().trim();
  }

  /** The gateway container's memory limit, in bytes. */
  public static long memoryLimitBytes() {
    return Quantity.getAmountInBytes(gateway().getResources().getLimits().get("memory"))
        .longValueExact();
  }

  /** The gateway container's CPU limit, in whole CPUs (at least 1). */
  public static int cpuLimit() {
    return Math.max(1, gateway().getResources().getLimits().get("cpu").getNumericalAmount()
        .intValue());
  }

  /**
   * Every series name (as in a scrape, e.g. {@code qga_command_duration_seconds_bucket}) that
   * the PrometheusRule expressions and the Grafana dashboard's queries use.
   */
  public static Set<String> metricNamesUsedByManifests() {
    Set<String> names = new TreeSet<>();
    for (String expr : promqlExpressions().values()) {
      names.addAll(metricNamesIn(expr));
    }
    return names;
  }

  // ---------------------------------------------------------------------------------------
  // Tests

  @Test
  void everyManifestParsesIntoKubernetesObjectsWithoutUnknownFields() {
    List<String> resources = kustomizationResources();
    assertFalse(resources.isEmpty());
    Set<String> kinds = new TreeSet<>();
    for (String file : resources) {
      Object parsed = unmarshal(file);
      HasMetadata resource = assertInstanceOf(HasMetadata.class, parsed, file + " is one object");
      assertNotNull(resource.getMetadata().getName(), file + " has a name");
      assertNull(resource.getMetadata().getNamespace(),
          file + ": the namespace comes from kustomization.yaml only");
      if (resource instanceof GenericKubernetesResource generic) {
        // Prometheus Operator CRDs are not in the core model
        assertEquals("monitoring.coreos.com/v1", generic.getApiVersion(), file);
        assertTrue(Set.of("ServiceMonitor", "PrometheusRule").contains(generic.getKind()), file);
        assertNotNull(generic.getAdditionalProperties().get("spec"), file + " has a spec");
      } else {
        List<String> unknown = new ArrayList<>();
        findUnknownFields(resource, resource.getKind(), unknown);
        assertTrue(unknown.isEmpty(), file + " has fields the Kubernetes model does not know: "
            + unknown);
      }
      kinds.add(resource.getKind());
    }
    assertEquals(new TreeSet<>(List.of("ConfigMap", "DaemonSet", "Namespace", "NetworkPolicy",
        "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor")), kinds);
  }

  @Test
  void kustomizationListsEveryFileAndEveryFileIsListed() throws IOException {
    JsonNode kustomization = yaml(BASE.resolve("kustomization.yaml"));
    Set<String> listed = new TreeSet<>(kustomizationResources());
    for (JsonNode generator : kustomization.path("configMapGenerator")) {
      generator.path("files").forEach(f -> listed.add(f.asText()));
    }
    Set<String> onDisk;
    try (Stream<Path> files = Files.list(BASE)) {
      onDisk = files.map(p -> p.getFileName().toString())
          .filter(n -> !n.equals("kustomization.yaml"))
          .collect(Collectors.toCollection(TreeSet::new));
    }
    assertEquals(onDisk, listed, "k8s/base files vs. kustomization.yaml");
    assertEquals(kustomizationResources().size(), new HashSet<>(kustomizationResources()).size(),
        "no resource listed twice");

    // the example overlay builds on base and patches only what exists there
    Path overlay = K8S.resolve("overlays/example");
    JsonNode ok = yaml(overlay.resolve("kustomization.yaml"));
    assertEquals("../../base", ok.path("resources").get(0).asText());
    Set<String> overlayFiles = new TreeSet<>();
    for (JsonNode patch : ok.path("patches")) {
      String path = patch.path("path").asText();
      overlayFiles.add(path);
      JsonNode p = yaml(overlay.resolve(path));
      assertEquals("DaemonSet", p.path("kind").asText(), path);
      assertEquals(daemonSet().getMetadata().getName(), p.path("metadata").path("name").asText());
    }
    try (Stream<Path> files = Files.list(overlay)) {
      assertEquals(overlayFiles, files.map(p -> p.getFileName().toString())
          .filter(n -> !n.equals("kustomization.yaml"))
          .collect(Collectors.toCollection(TreeSet::new)), "every overlay file is used");
    }
  }

  @Test
  void theDirectSocketOverlaySwapsLibvirtsSocketForTheAgentsDirectory() {
    Path overlay = K8S.resolve("overlays/direct-socket");
    JsonNode ok = yaml(overlay.resolve("kustomization.yaml"));
    assertEquals("../../base", ok.path("resources").get(0).asText());
    Set<String> patched = new TreeSet<>();
    ok.path("patches").forEach(p -> patched.add(p.path("path").asText()));
    try (Stream<Path> files = Files.list(overlay)) {
      assertEquals(patched, files.map(p -> p.getFileName().toString())
          .filter(n -> !n.equals("kustomization.yaml"))
          .collect(Collectors.toCollection(TreeSet::new)), "every overlay file is used");
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    JsonNode ds = yaml(overlay.resolve("daemonset-direct.yaml"));
    assertEquals(daemonSet().getMetadata().getName(), ds.path("metadata").path("name").asText());
    JsonNode pod = ds.path("spec").path("template").path("spec");
    JsonNode volumes = pod.path("volumes");
    assertEquals("libvirt-run", volumes.get(0).path("name").asText());
    assertEquals("delete", volumes.get(0).path("$patch").asText());
    String dir = volumes.get(1).path("hostPath").path("path").asText();
    JsonNode mounts = pod.path("containers").get(0).path("volumeMounts");
    assertEquals("/run/libvirt", mounts.get(0).path("mountPath").asText());
    assertEquals("delete", mounts.get(0).path("$patch").asText());
    assertEquals(dir, mounts.get(1).path("mountPath").asText());

    ConfigMap cm = K8S_SERIALIZATION.unmarshal(yaml(overlay.resolve("configmap-direct.yaml"))
        .toString(), ConfigMap.class);
    assertEquals(load("configmap.yaml", ConfigMap.class).getMetadata().getName(),
        cm.getMetadata().getName());
    JsonNode config;
    try {
      config = YAML.readTree(cm.getData().get(CONFIG_KEY));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    assertEquals("false", config.path("libvirt").path("enabled").asText());
    assertEquals(dir, config.path("discovery").get(0).path("directory").asText());
    assertFalse(dir.startsWith("/var/lib/libvirt") || dir.startsWith("/run/libvirt"),
        "never libvirt's channel directory");
  }

  @Test
  void probesUseTheHealthEndpointsOnTheHttpPortThatTheServiceTargets() {
    Container c = gateway();
    ContainerPort http = port(c, "http");
    assertEquals(8080, http.getContainerPort());
    assertEquals(8080, config().path("http").path("port").asInt(), "config http.port");
    assertEquals("0.0.0.0", config().path("http").path("host").asText(),
        "the pod IP must be served, not loopback");

    assertProbe(c.getLivenessProbe(), "/health/live");
    assertProbe(c.getReadinessProbe(), "/health/ready");
    assertProbe(c.getStartupProbe(), "/health/live");

    Service svc = load("service-http.yaml", Service.class);
    ServicePort sp = svc.getSpec().getPorts().get(0);
    assertEquals("http", sp.getName());
    assertEquals(8080, sp.getPort());
    assertEquals(new IntOrString("http"), sp.getTargetPort());
    assertEquals(podLabels(), svc.getSpec().getSelector());
  }

  @Test
  void hazelcastHeadlessServiceMatchesTheClusterConfig() {
    JsonNode cluster = config().path("cluster");
    int clusterPort = cluster.path("port").asInt();
    assertEquals(5701, clusterPort);
    assertTrue(cluster.path("enabled").asBoolean());
    assertTrue(cluster.path("kubernetes").path("enabled").asBoolean());

    Service headless = load("service-hazelcast.yaml", Service.class);
    assertEquals("None", headless.getSpec().getClusterIP());
    assertEquals(Boolean.TRUE, headless.getSpec().getPublishNotReadyAddresses());
    assertEquals(podLabels(), headless.getSpec().getSelector());
    ServicePort sp = headless.getSpec().getPorts().get(0);
    assertEquals(clusterPort, sp.getPort());
    assertEquals(new IntOrString("hazelcast"), sp.getTargetPort());
    assertEquals(clusterPort, port(gateway(), "hazelcast").getContainerPort());

    String namespace = kustomization().path("namespace").asText();
    assertEquals(headless.getMetadata().getName() + "." + namespace + ".svc.cluster.local",
        cluster.path("kubernetes").path("serviceDns").asText());
    assertEquals("true", env(gateway(), "QGA_CLUSTER").getValue());
  }

  @Test
  void daemonSetRunsWithLeastPrivilege() throws IOException {
    DaemonSet ds = daemonSet();
    PodSpec pod = ds.getSpec().getTemplate().getSpec();
    assertTrue(pod.getHostNetwork() == null || !pod.getHostNetwork());
    assertTrue(pod.getHostPID() == null || !pod.getHostPID());
    assertTrue(pod.getHostIPC() == null || !pod.getHostIPC());
    assertEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken());
    assertEquals(Boolean.FALSE, pod.getEnableServiceLinks(), "no injected QGA_* variables");
    assertEquals(load("serviceaccount.yaml", ServiceAccount.class).getMetadata().getName(),
        pod.getServiceAccountName());
    assertFalse(pod.getNodeSelector().isEmpty());
    assertEquals(podLabels(), ds.getSpec().getSelector().getMatchLabels());
    assertEquals(0, ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxSurge().getIntVal(),
        "two gateways on one node would compete for the sockets");

    PodSecurityContext psc = pod.getSecurityContext();
    assertEquals(Boolean.TRUE, psc.getRunAsNonRoot());
    assertTrue(psc.getRunAsUser() > 0);
    assertNull(psc.getFsGroup(), "fsGroup must not touch the hostPath");
    assertFalse(psc.getSupplementalGroups().isEmpty());
    assertEquals("RuntimeDefault", psc.getSeccompProfile().getType());

    Container c = gateway();
    SecurityContext sc = c.getSecurityContext();
    assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation());
    assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem());
    assertTrue(sc.getPrivileged() == null || !sc.getPrivileged());
    assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
    assertTrue(sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty());

    // exactly one host path: libvirtd's socket directory, at the same path, and the config
    // reaches the domains through libvirt, never through sockets libvirt owns
    assertEquals("true", config().path("libvirt").path("enabled").asText());
    assertEquals("qemu:///system", config().path("libvirt").path("uri").asText());
    assertTrue(config().path("discovery").isEmpty(), "no discovery on libvirt hosts");
    List<Volume> hostPaths = pod.getVolumes().stream().filter(v -> v.getHostPath() != null).toList();
    assertEquals(1, hostPaths.size());
    assertEquals("/run/libvirt", hostPaths.get(0).getHostPath().getPath());
    assertEquals("Directory", hostPaths.get(0).getHostPath().getType());
    assertEquals("/run/libvirt", mount(c, hostPaths.get(0).getName()).getMountPath());

    Volume tmp = pod.getVolumes().stream().filter(v -> v.getEmptyDir() != null).findFirst()
        .orElseThrow();
    assertEquals("/tmp", mount(c, tmp.getName()).getMountPath());

    Volume config = pod.getVolumes().stream().filter(v -> v.getConfigMap() != null).findFirst()
        .orElseThrow();
    assertEquals(load("configmap.yaml", ConfigMap.class).getMetadata().getName(),
        config.getConfigMap().getName());
    VolumeMount configMount = mount(c, config.getName());
    assertNull(configMount.getSubPath(), "subPath mounts never see ConfigMap updates");
    assertEquals(List.of("--config", configMount.getMountPath() + "/" + CONFIG_KEY), c.getArgs());

    assertEquals("status.podIP", env(c, "QGA_POD_IP").getValueFrom().getFieldRef().getFieldPath());
    var token = env(c, "QGA_HTTP_TOKEN").getValueFrom().getSecretKeyRef();
    assertEquals(Boolean.TRUE, token.getOptional());
    // named tokens: the Secret's file is auth.tokensFile; optional, so a missing Secret leaves
    // a running pod that accepts nothing and says why in its readiness (fail closed)
    Volume tokens = pod.getVolumes().stream().filter(v -> v.getSecret() != null).findFirst()
        .orElseThrow();
    assertEquals("qga-gateway-tokens", tokens.getSecret().getSecretName());
    assertEquals(Boolean.TRUE, tokens.getSecret().getOptional());
    JsonNode auth = YAML.readTree(configFromConfigMap()).path("auth");
    assertEquals(mount(c, tokens.getName()).getMountPath() + "/tokens.yaml",
        auth.path("tokensFile").asText());
    assertTrue(env(c, "JAVA_TOOL_OPTIONS").getValue().contains("-XX:MaxRAMPercentage="));

    assertNotNull(c.getResources().getRequests().get("cpu"));
    assertNotNull(c.getResources().getRequests().get("memory"));
    assertNotNull(c.getResources().getLimits().get("cpu"));
    assertEquals(c.getResources().getRequests().get("memory"),
        c.getResources().getLimits().get("memory"));
  }

  @Test
  void networkPolicyOpensHttpToMonitoringAndClientsAndTheClusterPortToPeersOnly() {
    NetworkPolicy np = load("networkpolicy.yaml", NetworkPolicy.class);
    assertEquals(podLabels(), np.getSpec().getPodSelector().getMatchLabels());
    assertTrue(np.getSpec().getPolicyTypes().contains("Ingress"));
    int clusterPort = config().path("cluster").path("port").asInt();
    int bridgePort = config().path("bridge").path("port").asInt();
    assertFalse(config().path("bridge").path("enabled").asBoolean());

    boolean monitoring = false;
    boolean clients = false;
    for (NetworkPolicyIngressRule rule : np.getSpec().getIngress()) {
      Set<Integer> ports = rule.getPorts() == null ? Set.of()
          : rule.getPorts().stream().map(this::resolve).collect(Collectors.toSet());
      boolean allPorts = ports.isEmpty();
      if (allPorts || ports.contains(clusterPort)) {
        for (NetworkPolicyPeer peer : rule.getFrom()) {
          assertNull(peer.getNamespaceSelector(), "cluster port: own namespace only");
          assertNull(peer.getIpBlock());
          assertEquals(podLabels(), peer.getPodSelector().getMatchLabels(),
              "cluster port: gateway pods only");
        }
        continue;
      }
      assertFalse(ports.contains(bridgePort), "bridge is disabled");
      assertEquals(Set.of(8080), ports);
      for (NetworkPolicyPeer peer : rule.getFrom()) {
        assertNotNull(peer.getNamespaceSelector());
        assertNotNull(peer.getPodSelector(), "a namespace alone is too wide");
        if ("monitoring".equals(peer.getNamespaceSelector().getMatchLabels()
            .get("kubernetes.io/metadata.name"))) {
          monitoring = true;
        } else {
          clients = true;
        }
      }
    }
    assertTrue(monitoring, "Prometheus can scrape");
    assertTrue(clients, "API clients can call");
  }

  @Test
  void serviceMonitorScrapesMetricsOnTheHttpService() {
    JsonNode spec = spec("servicemonitor.yaml");
    Service svc = load("service-http.yaml", Service.class);
    JsonNode selector = spec.path("selector").path("matchLabels");
    selector.fields().forEachRemaining(e -> assertEquals(e.getValue().asText(),
        svc.getMetadata().getLabels().get(e.getKey()), "selects the HTTP service"));
    Service headless = load("service-hazelcast.yaml", Service.class);
    assertFalse(matches(selector, headless.getMetadata().getLabels()), "not the headless one");
    JsonNode endpoint = spec.path("endpoints").get(0);
    assertEquals("http", endpoint.path("port").asText());
    assertEquals("/metrics", endpoint.path("path").asText());
    // job label = the value the alerts select on
    assertEquals("qga-gateway", svc.getMetadata().getLabels().get(spec.path("jobLabel").asText()));
  }

  @Test
  void alertsCoverTheOperationalRisks() {
    Map<String, JsonNode> alerts = new LinkedHashMap<>();
    for (JsonNode group : spec("prometheusrule.yaml").path("groups")) {
      for (JsonNode rule : group.path("rules")) {
        assertFalse(rule.path("expr").asText().isBlank());
        assertTrue(Set.of("warning", "critical").contains(
            rule.path("labels").path("severity").asText()), rule.path("alert").asText());
        assertFalse(rule.path("annotations").path("summary").asText().isBlank());
        assertFalse(rule.path("annotations").path("description").asText().isBlank());
        assertNull(alerts.put(rule.path("alert").asText(), rule), "alert names are unique");
      }
    }
    assertTrue(alerts.get("QgaGuestAgentNotConnected").path("expr").asText()
        .contains("qga_guests{state!=\"ready\"}"));
    assertTrue(alerts.get("QgaGuestAutoThawed").path("expr").asText()
        .contains("increase(qga_auto_thaws_total["));
    assertTrue(alerts.get("QgaCommandTimeoutRateHigh").path("expr").asText()
        .contains("qga_command_duration_seconds_count{outcome=\"timeout\"}"));
    assertTrue(alerts.get("QgaResyncStorm").path("expr").asText()
        .contains("rate(qga_resyncs_total[5m])"));

    JsonNode frozen = alerts.get("QgaGuestFrozenPastLease");
    assertTrue(frozen.path("expr").asText().contains("qga_frozen_guests"));
    Duration autoThaw = Duration.ofMillis(config().path("freeze").path("autoThawMs").asLong());
    assertTrue(promDuration(frozen.path("for").asText()).compareTo(autoThaw) > 0,
        "the frozen alert waits longer than the auto-thaw lease");
  }

  @Test
  void grafanaDashboardIsWellFormedAndShowsEveryDocumentedMetric() throws IOException {
    JsonNode dash = JSON.readTree(BASE.resolve(DASHBOARD).toFile());
    assertFalse(dash.path("uid").asText().isBlank());
    Set<Integer> ids = new HashSet<>();
    for (JsonNode panel : dash.path("panels")) {
      assertTrue(ids.add(panel.path("id").asInt()), "panel ids are unique");
      assertFalse(panel.path("title").asText().isBlank());
      assertTrue(panel.path("targets").size() > 0, panel.path("title").asText());
      for (JsonNode target : panel.path("targets")) {
        assertFalse(target.path("expr").asText().isBlank(), panel.path("title").asText());
      }
    }
    Set<String> shown = new HashSet<>();
    promqlExpressions().forEach((where, expr) -> {
      if (where.startsWith(DASHBOARD)) {
        shown.addAll(metricNamesIn(expr));
      }
    });
    for (Metric m : CONTRACT_METRICS.values()) {
      assertTrue(m.seriesNames().stream().anyMatch(shown::contains),
          "the dashboard shows " + m.name());
    }
    String all = String.join("\n", promqlExpressions().values());
    assertTrue(all.contains("histogram_quantile(0.5, sum by (le, command) (rate(qga_command_duration_seconds_bucket"));
    assertTrue(all.contains("histogram_quantile(0.99, sum by (le, command) (rate(qga_command_duration_seconds_bucket"));
  }

  @Test
  void theMetricsBeyondTheContractAreDocumented() throws IOException {
    String doc = Files.readString(K8S.getParent().resolve("docs").resolve("METRICS.md"));
    for (Metric m : ADDED_METRICS.values()) {
      assertTrue(doc.contains("`" + m.name() + "`"), "docs/METRICS.md documents " + m.name());
      for (String label : m.labels().keySet()) {
        assertTrue(doc.contains("`" + label + "`"), "docs/METRICS.md names label " + label);
      }
    }
  }

  @Test
  void everyMetricAndLabelUsedByTheManifestsIsDocumented() {
    Set<String> documented = DOCUMENTED_METRICS.values().stream()
        .flatMap(m -> m.seriesNames().stream()).collect(Collectors.toSet());
    Set<String> used = metricNamesUsedByManifests();
    assertTrue(used.size() >= CONTRACT_METRICS.size(), "found the metrics: " + used);
    Set<String> undocumented = new TreeSet<>(used);
    undocumented.removeAll(documented);
    assertTrue(undocumented.isEmpty(), "not in METRICS.md nor docs/METRICS.md: " + undocumented);

    Pattern selector = Pattern.compile("\\b(qga_[a-z0-9_]+)\\s*\\{([^}]*)}");
    Pattern matcher = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*\"([^\"]*)\"");
    Pattern grouping = Pattern.compile("\\b(?:by|without)\\s*\\(([^)]*)\\)");
    promqlExpressions().forEach((where, expr) -> {
      Set<String> allowed = new HashSet<>(TARGET_LABELS);
      for (String name : metricNamesIn(expr)) {
        Metric m = metricOf(name);
        allowed.addAll(m.labels().keySet());
        if (name.endsWith("_bucket")) {
          allowed.add("le");
        }
      }
      Matcher s = selector.matcher(expr);
      while (s.find()) {
        Metric m = metricOf(s.group(1));
        Matcher lm = matcher.matcher(s.group(2));
        while (lm.find()) {
          String label = lm.group(1);
          assertTrue(TARGET_LABELS.contains(label) || m.labels().containsKey(label),
              where + ": " + m.name() + " has no label " + label);
          Set<String> values = m.labels().getOrDefault(label, Set.of());
          if (!values.isEmpty() && !lm.group(2).contains("~")) {
            assertTrue(values.contains(lm.group(3)),
                where + ": " + label + "=\"" + lm.group(3) + "\" is not a documented value");
          }
        }
      }
      Matcher g = grouping.matcher(expr);
      while (g.find()) {
        for (String label : g.group(1).split(",")) {
          assertTrue(allowed.contains(label.strip()), where + ": no label " + label.strip());
        }
      }
    });
  }

  @Test
  void dockerfileRunsTheJarAsNonRootWithTheConfigTheDaemonSetMounts() throws IOException {
    List<String> lines = Files.readAllLines(K8S.resolve("Dockerfile")).stream()
        .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    assertTrue(lines.get(0).startsWith("FROM eclipse-temurin:17-jre"));
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("COPY ") && l.contains("target/qga-gateway.jar")));
    String user = lines.stream().filter(l -> l.startsWith("USER ")).reduce((a, b) -> b).orElseThrow();
    String uid = user.substring(5).split(":")[0];
    assertEquals(daemonSet().getSpec().getTemplate().getSpec().getSecurityContext().getRunAsUser(),
        Long.valueOf(uid), "numeric USER, the one the DaemonSet runs as");
    String entrypoint = lines.stream().filter(l -> l.startsWith("ENTRYPOINT ")).findFirst().orElseThrow();
    assertTrue(entrypoint.substring(11).startsWith("[\""), "exec form: java is PID 1");
    String cmd = lines.stream().filter(l -> l.startsWith("CMD ")).findFirst().orElseThrow();
    List<String> cmdArgs = new ArrayList<>();
    JSON.readTree(cmd.substring(4)).forEach(n -> cmdArgs.add(n.asText()));
    assertEquals(gateway().getArgs(), cmdArgs);
  }

  // ---------------------------------------------------------------------------------------
  // Plumbing

  static final String CONFIG_KEY = "config.yaml";
  static final String DASHBOARD = "grafana-dashboard.json";

  static JsonNode kustomization() {
    return yaml(BASE.resolve("kustomization.yaml"));
  }

  static List<String> kustomizationResources() {
    List<String> files = new ArrayList<>();
    kustomization().path("resources").forEach(n -> files.add(n.asText()));
    return files;
  }

  static Object unmarshal(String file) {
    try {
      return K8S_SERIALIZATION.unmarshal(Files.readString(BASE.resolve(file)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static <T> T load(String file, Class<T> type) {
    Object o = unmarshal(file);
    if (!type.isInstance(o)) {
      throw new IllegalStateException(file + " is a " + o.getClass().getSimpleName() + ", not a "
          + type.getSimpleName());
    }
    return type.cast(o);
  }

  static JsonNode yaml(Path file) {
    try {
      return YAML.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode spec(String file) {
    return JSON.valueToTree(load(file, GenericKubernetesResource.class).getAdditionalProperties()
        .get("spec"));
  }

  static JsonNode config() {
    try {
      return YAML.readTree(configFromConfigMap());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static DaemonSet daemonSet() {
    return load("daemonset.yaml", DaemonSet.class);
  }

  static Container gateway() {
    List<Container> containers = daemonSet().getSpec().getTemplate().getSpec().getContainers();
    assertEquals(1, containers.size());
    return containers.get(0);
  }

  static Map<String, String> podLabels() {
    return daemonSet().getSpec().getTemplate().getMetadata().getLabels().entrySet().stream()
        .filter(e -> e.getKey().equals("app.kubernetes.io/name"))
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
  }

  static ContainerPort port(Container c, String name) {
    return c.getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
        .orElseThrow(() -> new AssertionError("no container port " + name));
  }

  static VolumeMount mount(Container c, String volume) {
    return c.getVolumeMounts().stream().filter(m -> volume.equals(m.getName())).findFirst()
        .orElseThrow(() -> new AssertionError("volume " + volume + " is not mounted"));
  }

  static EnvVar env(Container c, String name) {
    return c.getEnv().stream().filter(e -> name.equals(e.getName())).findFirst()
        .orElseThrow(() -> new AssertionError("no env " + name));
  }

  int resolve(NetworkPolicyPort p) {
    IntOrString port = p.getPort();
    return port.getIntVal() != null ? port.getIntVal() : port(gateway(), port.getStrVal()).getContainerPort();
  }

  static boolean matches(JsonNode selector, Map<String, String> labels) {
    boolean[] all = {true};
    selector.fields().forEachRemaining(e ->
        all[0] &= e.getValue().asText().equals(labels.get(e.getKey())));
    return all[0];
  }

  static void assertProbe(Probe probe, String path) {
    assertNotNull(probe, path);
    assertEquals(path, probe.getHttpGet().getPath());
    assertEquals(new IntOrString("http"), probe.getHttpGet().getPort());
  }

  static Duration promDuration(String text) {
    Matcher m = Pattern.compile("(\\d+)(ms|s|m|h|d)").matcher(text);
    Duration total = Duration.ZERO;
    int end = 0;
    while (m.find()) {
      long n = Long.parseLong(m.group(1));
      total = total.plus(switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      });
      end = m.end();
    }
    if (end == 0 || end != text.length()) {
      throw new IllegalArgumentException("not a Prometheus duration: " + text);
    }
    return total;
  }

  static Metric metricOf(String seriesName) {
    for (Metric m : DOCUMENTED_METRICS.values()) {
      if (m.seriesNames().contains(seriesName)) {
        return m;
      }
    }
    throw new AssertionError(seriesName + " is not a documented metric series");
  }

  /** PromQL of the alerts and of the dashboard's panels and variables, keyed by origin. */
  static Map<String, String> promqlExpressions() {
    Map<String, String> exprs = new LinkedHashMap<>();
    for (JsonNode group : spec("prometheusrule.yaml").path("groups")) {
      for (JsonNode rule : group.path("rules")) {
        exprs.put("prometheusrule.yaml " + rule.path("alert").asText(), rule.path("expr").asText());
      }
    }
    JsonNode dash;
    try {
      dash = JSON.readTree(BASE.resolve(DASHBOARD).toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (JsonNode panel : dash.path("panels")) {
      for (JsonNode target : panel.path("targets")) {
        exprs.put(DASHBOARD + " " + panel.path("title").asText() + " " + target.path("refId").asText(),
            target.path("expr").asText());
      }
    }
    for (JsonNode variable : dash.path("templating").path("list")) {
      if (variable.path("type").asText().equals("query")) {
        exprs.put(DASHBOARD + " $" + variable.path("name").asText(),
            variable.path("definition").asText());
      }
    }
    return exprs;
  }

  /** Metric names in a PromQL expression (names in quoted label values do not count). */
  static Set<String> metricNamesIn(String expr) {
    String unquoted = expr.replaceAll("\"[^\"]*\"", "\"\"");
    Set<String> names = new TreeSet<>();
    Matcher m = Pattern.compile("\\bqga_[a-z0-9_]+\\b").matcher(unquoted);
    while (m.find()) {
      names.add(m.group());
    }
    return names;
  }

  /**
   * Walks a fabric8 model object and lists every field that landed in an
   * {@code additionalProperties} map, i.e. a field Kubernetes would reject or ignore (a typo
   * such as {@code readinesProbe}).
   */
  static void findUnknownFields(Object node, String path, List<String> unknown) {
    if (node == null) {
      return;
    }
    if (node instanceof Collection<?> items) {
      int i = 0;
      for (Object item : items) {
        findUnknownFields(item, path + "[" + i++ + "]", unknown);
      }
      return;
    }
    if (node instanceof Map<?, ?> map) {
      map.forEach((k, v) -> findUnknownFields(v, path + "." + k, unknown));
      return;
    }
    if (!node.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return;
    }
    for (Method getter : node.getClass().getMethods()) {
      if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers())
          || getter.getDeclaringClass() == Object.class || !getter.getName().startsWith("get")) {
        continue;
      }
      Object value;
      try {
        value = getter.invoke(node);
      } catch (IllegalAccessException | InvocationTargetException e) {
        continue;  // derived values (e.g. a Quantity's numeric amount) are not fields
      }
      if (getter.getName().equals("getAdditionalProperties")) {
        if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
          unknown.add(path + " " + extra.keySet());
        }
      } else {
        findUnknownFields(value, path + "." + decapitalize(getter.getName().substring(3)), unknown);
      }
    }
  }

  private static String decapitalize(String s) {
    return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
  }
}
