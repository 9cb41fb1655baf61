package io.qgagateway.tls;

import io.qgagateway.config.ConfigException;
import io.qgagateway.config.TlsConfig;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.ServerSSLOptions;

import javax.net.ssl.KeyManager;
import javax.net.ssl.X509KeyManager;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * The PEM files of a {@link TlsConfig}, read once and checked before anything listens with
 * them: the certificate chain parses and is valid now, the key parses and belongs to the
 * certificate, the CA parses. The contents (never the paths) go to Vert.x, so what is served is
 * exactly what was checked, and a file replaced later changes the options (a reload).
 *
 * <p>Messages name the configuration key and the file, never a key's bytes.
 */
public record TlsMaterial(TlsConfig config, Buffer cert, Buffer key, Buffer ca,
                          X509Certificate leaf) {

  /** TLS 1.2 and 1.3 only; older versions are off. */
  public static final Set<String> PROTOCOLS = Set.of("TLSv1.2", "TLSv1.3");

  /** Reads and checks the files. Blocking: call on a worker or before Vert.x runs. */
  public static TlsMaterial read(TlsConfig config) {
    Buffer cert = file(config, "cert", config.cert());
    Buffer key = file(config, "key", config.key());
    Buffer ca = config.ca() == null ? null : file(config, config.caField(), config.ca());
    List<X509Certificate> chain = certificates(config, "cert", cert);
    X509Certificate leaf = chain.get(0);
    try {
      leaf.checkValidity();
    } catch (CertificateExpiredException | CertificateNotYetValidException e) {
      throw new ConfigException(config.keyOf("cert") + ": " + config.cert()
          + ": the certificate is not valid now (valid " + leaf.getNotBefore() + " to "
          + leaf.getNotAfter() + ")");
    }
    checkKeyMatches(config, cert, key, leaf);
    if (ca != null) {
      certificates(config, config.caField(), ca);
    }
    return new TlsMaterial(config, cert, key, ca, leaf);
  }

  /** Whether the files hold something else now (the bytes, not the time stamps). */
  public boolean sameFilesAs(TlsMaterial other) {
    return other != null && cert.equals(other.cert) && key.equals(other.key)
        && (ca == null ? other.ca == null : ca.equals(other.ca));
  }

  /** Subject and expiry, for logs: nothing secret. */
  public String describe() {
    return leaf.getSubjectX500Principal().getName() + ", valid until " + leaf.getNotAfter();
  }

  /** What a server listens with, and what {@code updateSSLOptions} swaps in on a reload. */
  public ServerSSLOptions serverOptions() {
    ServerSSLOptions options = new ServerSSLOptions()
        .setKeyCertOptions(keyCert())
        .setClientAuth(config.clientAuth())
        .setEnabledSecureTransportProtocols(PROTOCOLS);
    if (ca != null) {
      options.setTrustOptions(new PemTrustOptions().addCertValue(ca));
    }
    return options;
  }

  /** The same on a server's options, for its first listen. */
  public <T extends NetServerOptions> T applyTo(T options) {
    ServerSSLOptions ssl = serverOptions();
    options.setSsl(true).setKeyCertOptions(ssl.getKeyCertOptions())
        .setTrustOptions(ssl.getTrustOptions()).setClientAuth(ssl.getClientAuth())
        .setEnabledSecureTransportProtocols(ssl.getEnabledSecureTransportProtocols());
    return options;
  }

  /**
   * The clustered event bus: TLS both ways, this member's certificate presented as server and
   * as client, and only peers with a certificate of the cluster CA accepted on either side.
   * Vert.x's bus client does no host-name check: the CA is what admits a member.
   */
  public EventBusOptions applyTo(EventBusOptions options) {
    options.setSsl(true).setKeyCertOptions(keyCert())
        .setTrustOptions(new PemTrustOptions().addCertValue(ca))
        .setClientAuth(config.clientAuth())
        .setEnabledSecureTransportProtocols(PROTOCOLS);
    return options;
  }

  private PemKeyCertOptions keyCert() {
    return new PemKeyCertOptions().addCertValue(cert).addKeyValue(key);
  }

  private static Buffer file(TlsConfig config, String field, String path) {
    try {
      return Buffer.buffer(Files.readAllBytes(Path.of(path)));
    } catch (IOException | RuntimeException e) {
      throw new ConfigException(config.keyOf(field) + ": cannot read " + path + ": "
          + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()));
    }
  }

  private static List<X509Certificate> certificates(TlsConfig config, String field,
                                                    Buffer pem) {
    String path = field.equals("cert") ? config.cert() : config.ca();
    if (!pem.toString().contains("-----BEGIN CERTIFICATE-----")) {
      throw new ConfigException(config.keyOf(field) + ": " + path
          + ": no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    try {
      Collection<? extends Certificate> parsed = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(pem.getBytes()));
      if (parsed.isEmpty()) {
        throw new CertificateException("no certificate");
      }
      return parsed.stream().map(c -> (X509Certificate) c).toList();
    } catch (CertificateException | ClassCastException e) {
      throw new ConfigException(config.keyOf(field) + ": " + path + ": not a PEM certificate: "
          + e.getMessage());
    }
  }

  /**
   * Parses the key as Vert.x will (PKCS#8, PKCS#1 RSA or SEC1 EC) and proves it belongs to the
   * certificate by a signature the certificate's public key verifies.
   */
  private static void checkKeyMatches(TlsConfig config, Buffer cert, Buffer key,
                                      X509Certificate leaf) {
    PrivateKey privateKey;
    try {
      // values only: Vert.x needs no file system (and no Vert.x instance) for them
      KeyManager[] managers = new PemKeyCertOptions().addCertValue(cert).addKeyValue(key)
          .getKeyManagerFactory(null).getKeyManagers();
      X509KeyManager manager = (X509KeyManager) managers[0];
      privateKey = Arrays.stream(new String[] {"RSA", "EC"})
          .map(type -> manager.getServerAliases(type, null))
          .filter(aliases -> aliases != null && aliases.length > 0)
          .map(aliases -> manager.getPrivateKey(aliases[0]))
          .findFirst().orElseThrow(() -> new IllegalArgumentException("not an RSA or EC key"));
    } catch (Exception e) {
      // the exception text never holds key material, but keep to its class and first words
      throw new ConfigException(config.keyOf("key") + ": " + config.key()
          + ": not a usable PEM private key (PKCS#8, PKCS#1 RSA or EC): " + firstLine(e));
    }
    String algorithm = privateKey.getAlgorithm().equals("EC") ? "SHA256withECDSA"
        : "SHA256withRSA";
    try {
      byte[] probe = new byte[32];
      new SecureRandom().nextBytes(probe);
      Signature sign = Signature.getInstance(algorithm);
      sign.initSign(privateKey);
      sign.update(probe);
      byte[] signature = sign.sign();
      Signature verify = Signature.getInstance(algorithm);
      verify.initVerify(leaf.getPublicKey());
      verify.update(probe);
      if (!verify.verify(signature)) {
        throw new IllegalArgumentException("mismatch");
      }
    } catch (Exception e) {
      throw new ConfigException(config.keyOf("key") + ": " + config.key()
          + ": does not belong to the certificate of " + config.keyOf("cert") + " ("
          + config.cert() + ")");
    }
  }

  private static String firstLine(Exception e) {
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }
}
