package io.qgagateway.auth;

import io.qgagateway.config.AuthConfig;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.PfxOptions;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileInputStream;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The seam the TLS servers call: a real TLS handshake with client authentication against a test
 * server, certificates made by the JDK's keytool, the peer's verified chain mapped to a principal
 * (CN or SAN; groups from O). A certificate the server does not trust never gets that far.
 */
@ExtendWith(VertxExtension.class)
class CertificatePrincipalsTest {

  private static final String PASSWORD = "changeit";

  @TempDir
  static Path dir;

  private static Path backup;
  private static Path intruder;
  private static Path trusted;

  @BeforeAll
  static void certificates() throws Exception {
    backup = keyPair("backup", "CN=backup,O=backups,O=ops", "san=dns:backup.qga.test");
    intruder = keyPair("intruder", "CN=operator", "san=dns:operator.qga.test");
    // the server trusts backup's certificate (its own CA, as self-signed) and nothing else
    trusted = dir.resolve("trusted.p12");
    keytool("-exportcert", "-alias", "backup", "-keystore", backup.toString(), "-storepass",
        PASSWORD, "-file", dir.resolve("backup.crt").toString());
    keytool("-importcert", "-noprompt", "-alias", "backup", "-file",
        dir.resolve("backup.crt").toString(), "-keystore", trusted.toString(), "-storetype",
        "PKCS12", "-storepass", PASSWORD);
  }

  private static Path keyPair(String alias, String dname, String san) throws Exception {
    Path store = dir.resolve(alias + ".p12");
    keytool("-genkeypair", "-alias", alias, "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", dname, "-ext", san, "-validity", "2", "-keystore", store.toString(),
        "-storetype", "PKCS12", "-storepass", PASSWORD);
    return store;
  }

  private static void keytool(String... args) throws Exception {
    String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
    List<String> command = new java.util.ArrayList<>(List.of(keytool));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("keytool failed: " + out);
    }
  }

  private static List<Certificate> chain(Path store) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(store.toFile())) {
      ks.load(in, PASSWORD.toCharArray());
    }
    return List.of(ks.getCertificateChain(ks.aliases().nextElement()));
  }

  /** The principal the server sees for a client presenting {@code clientStore}. */
  private static Principal handshake(Vertx vertx, CertificatePrincipals mapping, Path clientStore)
      throws Exception {
    SelfSignedCertificate server = SelfSignedCertificate.create("localhost");
    Promise<Principal> seen = Promise.promise();
    NetServer tls = vertx.createNetServer(new NetServerOptions().setSsl(true)
            .setKeyCertOptions(server.keyCertOptions())
            .setTrustOptions(new PfxOptions().setPath(trusted.toString()).setPassword(PASSWORD))
            .setClientAuth(ClientAuth.REQUIRED))
        .connectHandler(socket -> seen.tryComplete(mapping.principal(socket.sslSession())))
        // a handshake the server refuses: the client's certificate is not trusted
        .exceptionHandler(seen::tryFail);
    try {
      int port = tls.listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS).actualPort();
      var client = vertx.createNetClient(new NetClientOptions().setSsl(true)
          .setTrustOptions(server.trustOptions()).setHostnameVerificationAlgorithm("")
          .setKeyCertOptions(new PfxOptions().setPath(clientStore.toString())
              .setPassword(PASSWORD)));
      client.connect(port, "127.0.0.1").onFailure(seen::tryFail);
      return seen.future().await(10, TimeUnit.SECONDS);
    } finally {
      tls.close();
      server.delete();
    }
  }

  @Test
  void aVerifiedCertificateIsItsCnWithItsOrganisationsAsGroups(Vertx vertx) throws Exception {
    CertificatePrincipals cn = new CertificatePrincipals(new AuthConfig.Certificates(true, "cn"));
    assertEquals(new Principal("backup", Set.of("backups", "ops"), false),
        handshake(vertx, cn, backup));
  }

  @Test
  void theNameMayComeFromASubjectAlternativeName() throws Exception {
    CertificatePrincipals san = new CertificatePrincipals(
        new AuthConfig.Certificates(true, "san-dns"));
    assertEquals("backup.qga.test", san.principal(chain(backup)).name());
    CertificatePrincipals uri = new CertificatePrincipals(
        new AuthConfig.Certificates(true, "san-uri"));
    assertNull(uri.principal(chain(backup)), "no URI SAN: no principal");
  }

  @Test
  void aCertificateFromAnotherCaNeverGetsAPrincipal(Vertx vertx) {
    CertificatePrincipals cn = new CertificatePrincipals(new AuthConfig.Certificates(true, "cn"));
    Exception e = assertThrows(Exception.class, () -> handshake(vertx, cn, intruder));
    assertTrue(e instanceof javax.net.ssl.SSLException
        || e.getCause() instanceof javax.net.ssl.SSLException, String.valueOf(e));
  }

  @Test
  void disabledMappingOrNoCertificateIsNoPrincipal() throws Exception {
    assertNull(new CertificatePrincipals(new AuthConfig.Certificates(false, "cn"))
        .principal(chain(backup)));
    CertificatePrincipals cn = new CertificatePrincipals(new AuthConfig.Certificates(true, "cn"));
    assertNull(cn.principal(List.of()));
    assertNull(cn.principal((javax.net.ssl.SSLSession) null));
  }
}
