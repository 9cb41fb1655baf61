package io.qgagateway.auth;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.config.AuthConfig;
import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
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

  private static final Logger log = LoggerFactory.getLogger(Authenticator.class);

  private final Vertx vertx;
  private final ApiTokens tokens = new ApiTokens();
  private final TokenFile tokenFile;
  // swapped when the key file changes (a rotated key needs no restart)
  private volatile JWTAuth jwt;
  // the key file's content in use, and the last content refused (on the reload timer's context)
  private Buffer jwtKey;
  private Buffer refusedKey;
  private long jwtTimer = -1;
  private String jwtProblem;
  private final AuthConfig.Jwt configuredJwt;
  private final CertificatePrincipals certificates;
  private final String legacyToken;
  private volatile boolean credentials;

  /** A JWT key file's content and the provider made of it. */
  private record JwtKey(Buffer content, JWTAuth provider) {
  }

  private Authenticator(Vertx vertx, GatewayConfig config, JwtKey key) {
    AuthConfig auth = config.auth();
    this.vertx = vertx;
    this.jwtKey = key == null ? null : key.content();
    this.jwt = key == null ? null : key.provider();
    this.configuredJwt = auth.jwt();
    this.certificates = new CertificatePrincipals(auth.certificates());
    this.tokenFile = auth.tokensFile() == null ? null
        : new TokenFile(vertx, auth.tokensFile(), tokens);
    this.legacyToken = config.http().token();
    reconfigure(config);
  }

  /**
   * Reads the token file and the JWT key, then re-reads both every {@code auth.reloadMs}; fails
   * when a configured key cannot be read or used at start.
   */
  public static Future<Authenticator> start(Vertx vertx, GatewayConfig config) {
    AuthConfig.Jwt j = config.auth().jwt();
    // a configuration error (exit 2, the key named), as for a TLS file
    Future<JwtKey> key = j == null ? Future.succeededFuture() : readKey(vertx, j)
        .recover(e -> Future.failedFuture(new ConfigException(keyName(j) + ": cannot read "
            + keyFile(j) + ": " + e.getMessage())))
        .compose(content -> {
          try {
            return Future.succeededFuture(new JwtKey(content, jwt(vertx, j, content)));
          } catch (RuntimeException e) {
            return Future.failedFuture(new ConfigException(keyName(j) + ": " + unusable(j, e)));
          }
        });
    return key.compose(read -> {
      Authenticator authenticator = new Authenticator(vertx, config, read);
      if (j != null) {
        authenticator.jwtTimer = vertx.setPeriodic(config.auth().reloadMs(),
            id -> authenticator.reloadJwtKey());
      }
      return authenticator.tokenFile == null ? Future.succeededFuture(authenticator)
          : authenticator.tokenFile.start(config.auth().reloadMs()).map(authenticator);
    });
  }

  private static String keyFile(AuthConfig.Jwt j) {
    return j.publicKeyFile() != null ? j.publicKeyFile() : j.jwksFile();
  }

  private static String keyName(AuthConfig.Jwt j) {
    return j.publicKeyFile() != null ? "auth.jwt.publicKeyFile" : "auth.jwt.jwksFile";
  }

  /** Why a key file's content is refused: the exception's class only, never the content. */
  private static String unusable(AuthConfig.Jwt j, RuntimeException e) {
    return keyFile(j) + " holds no usable key (" + e.getClass().getSimpleName() + ")";
  }

  private static Future<Buffer> readKey(Vertx vertx, AuthConfig.Jwt j) {
    return vertx.fileSystem().readFile(keyFile(j));
  }

  /** A provider for the key file's content; throws when the content is no usable key. */
  private static JWTAuth jwt(Vertx vertx, AuthConfig.Jwt j, Buffer content) {
    JWTAuthOptions options = new JWTAuthOptions().setJWTOptions(new JWTOptions()
        .setIssuer(j.issuer()).setAudience(j.audience()));
    if (j.publicKeyFile() != null) {
      options.addPubSecKey(new PubSecKeyOptions().setAlgorithm(j.algorithm()).setBuffer(content));
    } else {
      JsonArray keys = new JsonObject(content).getJsonArray("keys", new JsonArray());
      keys.forEach(k -> options.addJwk((JsonObject) k));
    }
    return JWTAuth.create(vertx, options);
  }

  /**
   * A key file that changed (a rotated key, a Kubernetes Secret updated in place) replaces the
   * key at once; one that cannot be read or used keeps the previous key and says why.
   */
  private void reloadJwtKey() {
    readKey(vertx, configuredJwt).onComplete(ar -> {
      if (ar.failed()) {
        jwtProblem("cannot read " + keyFile(configuredJwt) + " (" + ar.cause().getMessage()
            + ")");
        return;
      }
      Buffer content = ar.result();
      if (content.equals(jwtKey)) {
        jwtProblem(null);
        return;
      }
      if (content.equals(refusedKey)) {
        return;
      }
      try {
        jwt = jwt(vertx, configuredJwt, content);
        jwtKey = content;
        refusedKey = null;
        jwtProblem(null);
        log.info("auth.jwt: " + keyFile(configuredJwt) + " changed; its key is used from now on");
      } catch (RuntimeException e) {
        refusedKey = content;
        jwtProblem(unusable(configuredJwt, e));
      }
    });
  }

  /** Logs what is wrong with the key file once, not at every reload. */
  private void jwtProblem(String problem) {
    if (problem != null && !problem.equals(jwtProblem)) {
      log.warn("auth.jwt: " + problem + "; keeping the previous key");
    }
    jwtProblem = problem;
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
    if (jwtTimer >= 0) {
      vertx.cancelTimer(jwtTimer);
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
    JWTAuth provider = jwt;
    if (provider != null && token.chars().filter(c -> c == '.').count() == 2) {
      return provider.authenticate(new TokenCredentials(token))
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
