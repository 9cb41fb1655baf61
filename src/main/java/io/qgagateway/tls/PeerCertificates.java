package io.qgagateway.tls;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.NetSocket;

import javax.net.ssl.SSLPeerUnverifiedException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The client certificate chain of a connection, as the TLS handshake verified it against the
 * listener's {@code clientCa} (leaf first). Empty when the connection is plain, or the client
 * sent no certificate ({@code clientAuth: request}); a certificate the CA did not issue never
 * gets this far, its handshake fails. This is what maps a caller to a principal.
 */
public final class PeerCertificates {

  private PeerCertificates() {
  }

  public static List<X509Certificate> of(HttpServerRequest request) {
    if (!request.isSSL()) {
      return List.of();
    }
    try {
      return x509(request.connection().peerCertificates());
    } catch (SSLPeerUnverifiedException none) {
      return List.of();
    }
  }

  public static List<X509Certificate> of(NetSocket socket) {
    if (!socket.isSsl()) {
      return List.of();
    }
    try {
      return x509(socket.peerCertificates());
    } catch (SSLPeerUnverifiedException none) {
      return List.of();
    }
  }

  private static List<X509Certificate> x509(List<Certificate> chain) {
    return chain == null ? List.of() : chain.stream()
        .filter(c -> c instanceof X509Certificate).map(c -> (X509Certificate) c).toList();
  }
}
