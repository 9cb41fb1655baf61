package io.qgagateway.config;

import io.vertx.core.http.ClientAuth;

import java.util.Locale;

/**
 * Where a listener's TLS certificate, key and trusted client CA are (PEM files), and whether
 * clients must present a certificate. {@code path} is the configuration key of the block
 * ({@code http.tls}), so a bad file found later is reported under its key.
 *
 * @param ca               the CA(s) whose certificates are trusted: client certificates for
 *                         {@code http}/{@code bridge} ({@code clientCa}), every member's for
 *                         {@code cluster} ({@code ca}); null when no client is verified
 * @param caField          the key that names {@code ca}: {@code clientCa} or {@code ca}
 * @param reloadIntervalMs how often the files are checked for a change (0: never, the cluster)
 */
public record TlsConfig(String path, String cert, String key, String ca, String caField,
                        ClientAuth clientAuth, long reloadIntervalMs) {

  public static final long DEFAULT_RELOAD_INTERVAL_MS = 10_000;

  /** The configuration key of one field of this block, e.g. {@code http.tls.cert}. */
  public String keyOf(String field) {
    return path + "." + field;
  }

  /**
   * {@code http.tls} / {@code bridge.tls}: {@code cert}, {@code key}, {@code clientCa},
   * {@code clientAuth} (none, request, required), {@code reloadIntervalMs}; null when the block
   * is absent or empty (plain TCP).
   */
  static TlsConfig server(Section s) {
    String cert = s.string("cert", null);
    String key = s.string("key", null);
    String clientCa = emptyToNull(s.string("clientCa", null));
    String mode = s.string("clientAuth", "none");
    long reload = s.number("reloadIntervalMs", DEFAULT_RELOAD_INTERVAL_MS, 100, 86_400_000);
    s.finish();
    if (cert == null && key == null && clientCa == null) {
      return null;
    }
    ClientAuth clientAuth = switch (mode.toLowerCase(Locale.ROOT)) {
      case "none" -> ClientAuth.NONE;
      case "request" -> ClientAuth.REQUEST;
      case "required" -> ClientAuth.REQUIRED;
      default -> throw new ConfigException(s.key("clientAuth")
          + ": expected none, request or required, got '" + mode + "'");
    };
    if (clientAuth != ClientAuth.NONE && clientCa == null) {
      throw new ConfigException(s.key("clientCa") + ": required when " + s.key("clientAuth")
          + " is " + mode + " (the CA that issues the client certificates)");
    }
    if (clientAuth == ClientAuth.NONE && clientCa != null) {
      throw new ConfigException(s.key("clientAuth") + ": is none, so " + s.key("clientCa")
          + " would never be used; set request or required");
    }
    return new TlsConfig(s.path(), required(s, "cert", cert),
        required(s, "key", key), clientCa, "clientCa", clientAuth, reload);
  }

  /**
   * {@code cluster.tls}: {@code cert}, {@code key} and {@code ca}, all required; every member
   * must present a certificate of that CA ({@link ClientAuth#REQUIRED}). Null when absent.
   */
  static TlsConfig cluster(Section s) {
    String cert = s.string("cert", null);
    String key = s.string("key", null);
    String ca = s.string("ca", null);
    s.finish();
    if (cert == null && key == null && ca == null) {
      return null;
    }
    return new TlsConfig(s.path(), required(s, "cert", cert),
        required(s, "key", key), required(s, "ca", ca), "ca", ClientAuth.REQUIRED, 0);
  }

  private static String required(Section s, String field, String value) {
    if (value == null || value.isBlank()) {
      throw new ConfigException(s.key(field) + ": required in " + s.path()
          + " (a PEM file)");
    }
    return value;
  }

  private static String emptyToNull(String value) {
    return value == null || value.isEmpty() ? null : value;
  }
}
