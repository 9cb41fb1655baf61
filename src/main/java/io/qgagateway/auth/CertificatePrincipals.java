package io.qgagateway.auth;

import io.qgagateway.config.AuthConfig;

import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The principal of a client certificate the TLS layer has already verified against the trusted
 * CA (this class checks no signature): its name from the subject CN or a subject alternative
 * name ({@code auth.certificates.principalFrom}), its groups from the subject's O values, as
 * Kubernetes maps client certificates to users and groups. The seam the HTTPS and bridge TLS
 * servers call with the peer's chain.
 */
public final class CertificatePrincipals {

  private static final int SAN_EMAIL = 1;
  private static final int SAN_DNS = 2;
  private static final int SAN_URI = 6;

  private final AuthConfig.Certificates config;

  public CertificatePrincipals(AuthConfig.Certificates config) {
    this.config = config;
  }

  public boolean enabled() {
    return config.enabled();
  }

  /** The principal of a TLS session's verified peer, or null (no certificate, or not usable). */
  public Principal principal(SSLSession session) {
    if (session == null) {
      return null;
    }
    try {
      return principal(List.of(session.getPeerCertificates()));
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
  }

  /**
   * The principal of a verified chain (the peer's own certificate first), or null when
   * certificates are not enabled, the chain is empty, or the certificate has no usable name.
   */
  public Principal principal(List<? extends Certificate> chain) {
    if (!config.enabled() || chain == null || chain.isEmpty()
        || !(chain.get(0) instanceof X509Certificate cert)) {
      return null;
    }
    String name = switch (config.principalFrom()) {
      case "san-dns" -> san(cert, SAN_DNS);
      case "san-uri" -> san(cert, SAN_URI);
      case "san-email" -> san(cert, SAN_EMAIL);
      default -> first(subject(cert, "CN"));
    };
    if (name == null || !Principal.NAME.matcher(name).matches()) {
      return null;
    }
    Set<String> groups = new LinkedHashSet<>();
    for (String o : subject(cert, "O")) {
      if (Principal.NAME.matcher(o).matches()) {
        groups.add(o);
      }
    }
    return new Principal(name, groups, false);
  }

  private static List<String> subject(X509Certificate cert, String type) {
    try {
      LdapName dn = new LdapName(cert.getSubjectX500Principal().getName());
      return dn.getRdns().stream().filter(r -> r.getType().equalsIgnoreCase(type))
          .map(Rdn::getValue).map(String::valueOf).toList();
    } catch (InvalidNameException e) {
      return List.of();
    }
  }

  private static String first(List<String> values) {
    return values.isEmpty() ? null : values.get(0);
  }

  private static String san(X509Certificate cert, int type) {
    try {
      Collection<List<?>> names = cert.getSubjectAlternativeNames();
      if (names == null) {
        return null;
      }
      for (List<?> entry : names) {
        if (entry.size() >= 2 && entry.get(0) instanceof Integer t && t == type
            && entry.get(1) instanceof String value) {
          return value;
        }
      }
      return null;
    } catch (CertificateParsingException e) {
      return null;
    }
  }
}
