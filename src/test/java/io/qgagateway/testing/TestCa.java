package io.qgagateway.testing;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A certificate authority made by the tests with the JDK's own {@code keytool} (no extra
 * dependency, no network): EC P-256 keys, a CA certificate, and leaf certificates it signs for
 * 127.0.0.1 / localhost, usable as server and client certificates. Everything is written as
 * PEM, as cert-manager writes it: {@code NAME.crt}, {@code NAME.key} (PKCS#8), {@code ca.crt}.
 */
public final class TestCa {

  private static final String PASS = "test-only-pass";

  private final Path dir;
  private final String name;
  private final Path keystore;
  private final Path caPem;

  /** A PEM certificate and its key on disk. */
  public record Issued(Path cert, Path key) {
  }

  private TestCa(Path dir, String name) {
    this.dir = dir;
    this.name = name;
    this.keystore = dir.resolve(name + "-ca.p12");
    this.caPem = dir.resolve(name + "-ca.crt");
  }

  /** Creates the CA in {@code dir} (its files are prefixed with {@code name}). */
  public static TestCa create(Path dir, String name) throws IOException {
    TestCa ca = new TestCa(dir, name);
    keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=qga test CA " + name, "-ext", "bc:c", "-validity", "3",
        "-keystore", ca.keystore.toString(), "-storetype", "PKCS12", "-storepass", PASS);
    keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.keystore.toString(),
        "-storepass", PASS, "-file", ca.caPem.toString());
    return ca;
  }

  /** The CA's certificate (PEM): what a peer trusts. */
  public Path caCert() {
    return caPem;
  }

  /** A certificate for {@code cn}, valid for 127.0.0.1 and localhost, signed by this CA. */
  public Issued issue(String cn) throws IOException {
    return issue(cn, cn);
  }

  /** The same, written as {@code file}.crt / {@code file}.key (to replace files in place). */
  public Issued issue(String cn, String file) throws IOException {
    Path leafStore = dir.resolve(name + "-" + file + "-" + System.nanoTime() + ".p12");
    Path csr = dir.resolve(name + "-" + file + ".csr");
    Path cert = dir.resolve(file + ".crt");
    Path key = dir.resolve(file + ".key");
    keytool("-genkeypair", "-alias", "leaf", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=" + cn, "-validity", "2", "-keystore", leafStore.toString(),
        "-storetype", "PKCS12", "-storepass", PASS);
    keytool("-certreq", "-alias", "leaf", "-keystore", leafStore.toString(), "-storepass", PASS,
        "-file", csr.toString());
    Path signed = dir.resolve(name + "-" + file + "-signed.crt");
    keytool("-gencert", "-alias", "ca", "-keystore", keystore.toString(), "-storepass", PASS,
        "-infile", csr.toString(), "-outfile", signed.toString(), "-rfc", "-validity", "2",
        "-ext", "san=ip:127.0.0.1,dns:localhost",
        "-ext", "eku=serverAuth,clientAuth");
    String pemKey = pkcs8(leafStore);
    // written whole, then moved: a reader never sees half a file
    Path certTmp = dir.resolve(file + ".crt.tmp");
    Path keyTmp = dir.resolve(file + ".key.tmp");
    Files.copy(signed, certTmp, StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(keyTmp, pemKey);
    Files.move(keyTmp, key, StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    Files.move(certTmp, cert, StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    return new Issued(cert, key);
  }

  private static String pkcs8(Path store) throws IOException {
    try (InputStream in = new FileInputStream(store.toFile())) {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(in, PASS.toCharArray());
      PrivateKey key = (PrivateKey) ks.getKey("leaf", PASS.toCharArray());
      return "-----BEGIN PRIVATE KEY-----\n"
          + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
              .encodeToString(key.getEncoded())
          + "\n-----END PRIVATE KEY-----\n";
    } catch (IOException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException("cannot read the key of " + store, e);
    }
  }

  private static void keytool(String... args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.add("-noprompt");
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      String output = new String(process.getInputStream().readAllBytes(),
          StandardCharsets.UTF_8);
      if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
        throw new IOException("keytool " + args[0] + " failed: " + output);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }
}
