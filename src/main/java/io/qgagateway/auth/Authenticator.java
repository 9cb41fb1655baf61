package io.qgagateway.auth;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.config.AuthConfig;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.auth.JWTOptions;
import io.vertx.ext.auth.PubSecKeyOptions;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authentication.TokenCredentials;
import io.vertx.ext.auth.jwt.JWTAuth;
import io.vertx.ext.auth.jwt.JWTAuthOptions;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Who a caller of HTTP or the bridge is: a bearer token (the legacy {@code http.token}, a named
 * API token, or a JWT of the configured issuer) or a verified client certificate. Fails closed:
 * with no credentials configured, only a server bound to loopback lets callers in, as
 * {@link Principal#ANONYMOUS} (the embedded demo); elsewhere every request is refused and
 * readiness says why (docs/SECURITY.md).
 */
public final class Authenticator {

  private final ApiTokens tokens = new ApiTokens();
  private final TokenFile tokenFile;
  private final JWTAuth jwt;
  private final AuthConfig.Jwt configuredJwt;
  private final CertificatePrincipals certificates;
  private final String legacyToken;
  private volatile boolean credentials;

  private Authenticator(Vertx vertx, GatewayConfig config, JWTAuth jwt) {
    AuthConfig auth = config.auth();
    this.jwt = jwt;
    this.configuredJwt = auth.jwt();
    this.certificates = new CertificatePrincipals(auth.certificates());
    this.tokenFile = auth.tokensFile() == null ? null
        : new TokenFile(vertx, auth.tokensFile(), tokens);
    this.legacyToken = config.http().token();
    reconfigure(config);
  }

  /** Reads the token file and the JWT key once; fails when a configured key cannot be read. */
  public static Future<Authenticator> start(Vertx vertx, GatewayConfig config) {
    AuthConfig.Jwt j = config.auth().jwt();
    Future<JWTAuth> jwt = j == null ? Future.succeededFuture() : jwt(vertx, j);
    return jwt.compose(provider -> {
      Authenticator authenticator = new Authenticator(vertx, config, provider);
      return authenticator.tokenFile == null ? Future.succeededFuture(authenticator)
          : authenticator.tokenFile.start(config.auth().reloadMs()).map(authenticator);
    });
  }

  private static Future<JWTAuth> jwt(Vertx vertx, AuthConfig.Jwt j) {
    String file = j.publicKeyFile() != null ? j.publicKeyFile() : j.jwksFile();
    return vertx.fileSystem().readFile(file)
        .recover(e -> Future.failedFuture(new IllegalArgumentException("auth.jwt: cannot read "
            + file + ": " + e.getMessage())))
        .map(content -> {
          JWTAuthOptions options = new JWTAuthOptions().setJWTOptions(new JWTOptions()
              .setIssuer(j.issuer()).setAudience(j.audience()));
          if (j.publicKeyFile() != null) {
            options.addPubSecKey(new PubSecKeyOptions().setAlgorithm(j.algorithm())
                .setBuffer(content));
          } else {
            JsonArray keys = new JsonObject(content).getJsonArray("keys", new JsonArray());
            keys.forEach(k -> options.addJwk((JsonObject) k));
          }
          return JWTAuth.create(vertx, options);
        });
  }

  /**
   * The named tokens of an edited configuration; the legacy token ({@code http.*}), the token
   * file's path, JWT and certificates change at the next restart.
   */
  public void reconfigure(GatewayConfig config) {
    tokens.configured(config.auth().tokens());
    credentials = legacyToken != null || config.auth().hasCredentials();
  }

  /** Whether {@code next} changes what {@link #reconfigure} leaves to the next restart. */
  public static boolean restartNeeded(AuthConfig current, AuthConfig next) {
    return !java.util.Objects.equals(current.tokensFile(), next.tokensFile())
        || current.reloadMs() != next.reloadMs() || !java.util.Objects.equals(current.jwt(),
        next.jwt()) || !current.certificates().equals(next.certificates());
  }

  public void close() {
    if (tokenFile != null) {
      tokenFile.close();
    }
  }

  /** Whether any credential is configured: else only loopback servers let callers in. */
  public boolean hasCredentials() {
    return credentials;
  }

  /** What makes the API refuse everyone now, for readiness; null when nothing does. */
  public String problem(String where, boolean loopback) {
    if (!credentials) {
      return loopback ? null : "no credentials configured and " + where + " is not loopback: "
          + "every request is refused (configure auth.tokens, auth.tokensFile, auth.jwt, "
          + "auth.certificates or http.token; docs/SECURITY.md)";
    }
    boolean onlyFile = legacyToken == null && jwt == null && !certificates.enabled()
        && tokens.size() == 0;
    return onlyFile && tokenFile != null ? tokenFile.problem() : null;
  }

  public CertificatePrincipals certificates() {
    return certificates;
  }

  /**
   * The principal of an {@code Authorization} value; fails with a 401 naming what is wrong
   * (never the token). The scheme is case-insensitive (RFC 7235).
   */
  public Future<Principal> bearer(String authorization) {
    if (authorization == null || authorization.isBlank()) {
      return unauthorized("no credentials: send Authorization: Bearer <token>");
    }
    if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return unauthorized("wrong scheme: expected Authorization: Bearer <token>");
    }
    String token = authorization.substring(7).trim();
    if (token.isEmpty()) {
      return unauthorized("empty bearer token");
    }
    String legacy = legacyToken;
    // constant time, so response timing does not reveal how much of a guess was right
    if (legacy != null && MessageDigest.isEqual(legacy.getBytes(StandardCharsets.UTF_8),
        token.getBytes(StandardCharsets.UTF_8))) {
      return Future.succeededFuture(Principal.LEGACY_TOKEN);
    }
    if (jwt != null && token.chars().filter(c -> c == '.').count() == 2) {
      return jwt.authenticate(new TokenCredentials(token))
          .transform(ar -> ar.succeeded() ? fromJwt(ar.result())
              : unauthorized("JWT refused: " + ar.cause().getMessage()));
    }
    return tokens.authenticate(new TokenCredentials(token))
        .transform(ar -> ar.succeeded() ? fromToken(ar.result())
            : unauthorized("unknown, revoked or malformed token"));
  }

  private static Future<Principal> fromToken(User user) {
    Set<String> groups = new LinkedHashSet<>();
    user.principal().getJsonArray("groups").forEach(g -> groups.add((String) g));
    return Future.succeededFuture(new Principal(user.principal().getString("sub"), groups, false));
  }

  private Future<Principal> fromJwt(User user) {
    AuthConfig.Jwt j = configuredJwt;
    Object name = user.get(j.nameClaim());
    if (!(name instanceof String n) || !Principal.NAME.matcher(n).matches()) {
      return unauthorized("JWT refused: claim " + j.nameClaim() + " is not a principal name");
    }
    Set<String> groups = new LinkedHashSet<>();
    if (user.get(j.groupsClaim()) instanceof JsonArray claimed) {
      for (Object g : claimed) {
        if (g instanceof String group && Principal.NAME.matcher(group).matches()) {
          groups.add(group);
        }
      }
    }
    return Future.succeededFuture(new Principal(n, groups, false));
  }

  private static <T> Future<T> unauthorized(String message) {
    return Failures.fail(Codes.UNAUTHORIZED, message);
  }
}
