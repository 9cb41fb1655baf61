package io.qgagateway.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import io.fabric8.kubernetes.api.model.Service;
import io.qgagateway.config.ConfigLoader;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.config.TlsConfig;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * k8s/components/cert-manager against itself, the base and the gateway's configuration: the
 * Certificates' Secrets are the volumes mounted, the variables set are the gateway's and give
 * a TLS configuration whose files are in those volumes, every issuer referenced exists, the
 * bus CA issues nothing but the bus certificate, and the HTTP certificate names the Service
 * that clients and Prometheus use. (YAML parsed here; `kubectl kustomize
 * k8s/overlays/example` renders it where kubectl is installed.)
 */
class CertManagerComponentTest {

  private static final Path COMPONENT = ManifestsTest.K8S.resolve("components/cert-manager");

  private static List<JsonNode> documents(String file) {
    try (MappingIterator<JsonNode> docs = ManifestsTest.YAML.readerFor(JsonNode.class)
        .readValues(COMPONENT.resolve(file).toFile())) {
      List<JsonNode> out = new ArrayList<>();
      docs.forEachRemaining(out::add);
      return out;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static Map<String, JsonNode> byKindAndName(String... files) {
    Map<String, JsonNode> out = new HashMap<>();
    for (String file : files) {
      for (JsonNode doc : documents(file)) {
        assertEquals("qga", doc.path("metadata").path("namespace").asText(),
            file + ": the component's objects live in the gateway's namespace");
        out.put(doc.path("kind").asText() + "/" + doc.path("metadata").path("name").asText(),
            doc);
      }
    }
    return out;
  }

  @Test
  void everyFileIsUsedAndTheExampleOverlayUsesTheComponent() throws IOException {
    JsonNode kustomization = ManifestsTest.yaml(COMPONENT.resolve("kustomization.yaml"));
    assertEquals("Component", kustomization.path("kind").asText());
    Set<String> used = new TreeSet<>();
    kustomization.path("resources").forEach(r -> used.add(r.asText()));
    kustomization.path("patches").forEach(p -> {
      if (p.has("path")) {
        used.add(p.path("path").asText());
      }
    });
    try (Stream<Path> files = Files.list(COMPONENT)) {
      assertEquals(files.map(f -> f.getFileName().toString())
          .filter(n -> !n.equals("kustomization.yaml"))
          .collect(Collectors.toCollection(TreeSet::new)), used);
    }
    // secure by default: base uses it, so every overlay built on base is TLS
    assertEquals("../components/cert-manager",
        ManifestsTest.kustomization().path("components").get(0).asText());
  }

  @Test
  void theOwnCertificatesOverlayDropsExactlyTheCertManagerObjects() throws IOException {
    JsonNode overlay = ManifestsTest.yaml(ManifestsTest.K8S.resolve(
        "overlays/own-certificates/kustomization.yaml"));
    assertEquals("../../base", overlay.path("resources").get(0).asText());
    Set<String> deleted = new TreeSet<>();
    for (JsonNode p : overlay.path("patches")) {
      JsonNode patch = ManifestsTest.YAML.readTree(p.path("patch").asText());
      assertEquals("delete", patch.path("$patch").asText(), patch.toString());
      deleted.add(patch.path("kind").asText() + "/" + patch.path("metadata").path("name")
          .asText());
    }
    assertEquals(new TreeSet<>(byKindAndName("issuers.yaml", "certificates.yaml").keySet()),
        deleted, "every Issuer and Certificate of the component, nothing else");
  }

  @Test
  void issuersExistAndTheBusCaIssuesOnlyTheBusCertificate() {
    Map<String, JsonNode> objects = byKindAndName("issuers.yaml", "certificates.yaml");
    Map<String, Integer> issued = new HashMap<>();
    for (JsonNode o : objects.values()) {
      if (!o.path("kind").asText().equals("Certificate")) {
        continue;
      }
      JsonNode ref = o.path("spec").path("issuerRef");
      assertEquals("cert-manager.io", ref.path("group").asText());
      String issuer = ref.path("kind").asText() + "/" + ref.path("name").asText();
      assertNotNull(objects.get(issuer), o.path("metadata").path("name") + " refers to "
          + issuer);
      issued.merge(issuer, 1, Integer::sum);
      if (o.path("spec").path("isCA").asBoolean()) {
        String caSecret = o.path("spec").path("secretName").asText();
        String caIssuer = "Issuer/" + o.path("metadata").path("name").asText();
        assertEquals(caSecret, objects.get(caIssuer).path("spec").path("ca").path("secretName")
            .asText(), caIssuer + " signs with " + caSecret);
      }
    }
    assertEquals(1, issued.get("Issuer/qga-gateway-bus-ca"),
        "every certificate of the bus CA can join the bus: it issues one");
    JsonNode bus = objects.get("Certificate/qga-gateway-bus").path("spec");
    Set<String> usages = new HashSet<>();
    bus.path("usages").forEach(u -> usages.add(u.asText()));
    assertTrue(usages.containsAll(Set.of("server auth", "client auth")),
        "a member is server and client on the bus: " + usages);
    for (String cert : List.of("Certificate/qga-gateway-bus", "Certificate/qga-gateway-http")) {
      JsonNode key = objects.get(cert).path("spec").path("privateKey");
      assertEquals("PKCS8", key.path("encoding").asText(), cert);
      assertEquals("Always", key.path("rotationPolicy").asText(), cert);
    }
  }

  @Test
  void theMountedSecretsHoldTheFilesTheVariablesName() throws IOException {
    Map<String, JsonNode> certificates = byKindAndName("certificates.yaml");
    JsonNode pod = ManifestsTest.yaml(COMPONENT.resolve("daemonset-tls.yaml"))
        .path("spec").path("template").path("spec");
    Map<String, String> secretOfVolume = new HashMap<>();
    pod.path("volumes").forEach(v -> secretOfVolume.put(v.path("name").asText(),
        v.path("secret").path("secretName").asText()));
    Map<String, String> secretOfDirectory = new HashMap<>();
    JsonNode container = pod.path("containers").get(0);
    assertEquals(ManifestsTest.gateway().getName(), container.path("name").asText());
    container.path("volumeMounts").forEach(m -> {
      assertTrue(m.path("readOnly").asBoolean(), m.toString());
      assertTrue(!m.has("subPath"), "a subPath mount never sees a renewal: " + m);
      secretOfDirectory.put(m.path("mountPath").asText(),
          secretOfVolume.get(m.path("name").asText()));
    });
    Set<String> secrets = new HashSet<>();
    certificates.values().forEach(c -> secrets.add(c.path("spec").path("secretName").asText()));
    assertEquals(secrets, new HashSet<>(secretOfVolume.values()),
        "the Certificates' Secrets are the volumes");

    // the ConfigMap's configuration with this patch's variables at their keys
    JsonObject tree = new JsonObject(ManifestsTest.JSON.writeValueAsString(
        ManifestsTest.YAML.readTree(ManifestsTest.configFromConfigMap())));
    container.path("env").forEach(e -> {
      String name = e.path("name").asText();
      String key = ConfigLoader.ENVIRONMENT.get(name);
      assertNotNull(key, name + " is read by the gateway");
      String[] parts = key.split("\\.");
      JsonObject at = tree;
      for (int i = 0; i < parts.length - 1; i++) {
        if (!(at.getValue(parts[i]) instanceof JsonObject)) {
          at.put(parts[i], new JsonObject());
        }
        at = at.getJsonObject(parts[i]);
      }
      at.put(parts[parts.length - 1], e.path("value").asText());
    });
    GatewayConfig config = GatewayConfig.parse(tree);
    for (TlsConfig tls : List.of(config.http().tls(), config.bridge().tls(),
        config.cluster().tls())) {
      assertNotNull(tls);
      for (String file : List.of(tls.cert(), tls.key(), tls.ca())) {
        Path path = Path.of(file);
        assertNotNull(secretOfDirectory.get(path.getParent().toString()),
            file + " is in a mounted Secret");
        assertTrue(Set.of("tls.crt", "tls.key", "ca.crt").contains(
            path.getFileName().toString()), file + ": a key cert-manager writes");
      }
    }
    assertEquals(ClientAuth.REQUEST, config.http().tls().clientAuth(),
        "the kubelet's probes and Prometheus present no certificate");
    assertEquals("qga-gateway-bus-tls", secretOfDirectory.get(
        Path.of(config.cluster().tls().cert()).getParent().toString()));
    assertNotEquals(secretOfDirectory.get(Path.of(config.http().tls().ca()).getParent()
        .toString()), secretOfDirectory.get(Path.of(config.cluster().tls().ca()).getParent()
        .toString()), "API clients are never trusted on the bus");

    for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
      assertEquals("HTTPS", container.path(probe).path("httpGet").path("scheme").asText(),
          probe);
    }
  }

  @Test
  void theHttpCertificateNamesTheServiceThatPrometheusChecks() {
    Service service = ManifestsTest.load("service-http.yaml", Service.class);
    String namespace = ManifestsTest.kustomization().path("namespace").asText();
    String name = service.getMetadata().getName() + "." + namespace + ".svc";
    JsonNode http = byKindAndName("certificates.yaml").get("Certificate/qga-gateway-http");
    Set<String> dnsNames = new HashSet<>();
    http.path("spec").path("dnsNames").forEach(n -> dnsNames.add(n.asText()));
    assertTrue(dnsNames.contains(name), dnsNames + " has " + name);
    String patch = ManifestsTest.yaml(COMPONENT.resolve("kustomization.yaml")).path("patches")
        .get(1).path("patch").asText();
    assertTrue(patch.contains("serverName: " + name), patch);
    assertTrue(patch.contains("name: " + http.path("spec").path("secretName").asText()), patch);
  }
}
