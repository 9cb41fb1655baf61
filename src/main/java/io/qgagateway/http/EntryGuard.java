package io.qgagateway.http;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.auth.Authenticator;
import io.qgagateway.auth.Principal;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.Future;

import javax.net.ssl.SSLSession;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * The door of one server (HTTP or bridge): who the caller is, before anything is sent. With no
 * credentials configured it lets callers in only when the server listens on loopback (like
 * Redis's protected mode); every refusal is counted in {@code qga_denied_total}.
 */
public final class EntryGuard {

  private final Authenticator authenticator;
  private final GatewayMetrics metrics;
  private final String where;
  private final boolean loopback;

  /** @param key the configuration key of the server's address, for messages: http.host */
  public EntryGuard(Authenticator authenticator, GatewayMetrics metrics, String key,
                    String host) {
    this.authenticator = authenticator;
    this.metrics = metrics;
    this.where = key + " " + host;
    this.loopback = loopback(host);
  }

  /** What makes this server refuse everyone now, or null. */
  public String problem() {
    return authenticator.problem(where, loopback);
  }

  /**
   * The caller's principal: from {@code authorization} (a bearer token) when given, else from
   * the TLS session's verified client certificate; fails with 401 (or 503 when this server may
   * not let anyone in).
   */
  public Future<Principal> authenticate(String authorization, SSLSession tls) {
    if (!authenticator.hasCredentials()) {
      if (loopback) {
        return Future.succeededFuture(Principal.ANONYMOUS);
      }
      metrics.denied(GatewayMetrics.Denial.NO_CREDENTIALS, null);
      return Failures.fail(Codes.NOT_CONNECTED, problem());
    }
    if (authorization == null && tls != null) {
      Principal certified = authenticator.certificates().principal(tls);
      if (certified != null) {
        return Future.succeededFuture(certified);
      }
    }
    return authenticator.bearer(authorization)
        .onFailure(e -> metrics.denied(GatewayMetrics.Denial.UNAUTHENTICATED, null));
  }

  /** A caller tried to name a principal itself. */
  public void refusedIdentityHeader() {
    metrics.denied(GatewayMetrics.Denial.IDENTITY_HEADER, null);
  }

  static boolean loopback(String host) {
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }
}
