package io.qgagateway.auth;

import io.qgagateway.config.AuthConfig;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authentication.AuthenticationProvider;
import io.vertx.ext.auth.authentication.Credentials;
import io.vertx.ext.auth.authentication.TokenCredentials;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Named API tokens, known by their SHA-256 only ({@code auth.tokens} and the token file). The
 * tokens are random (32 bytes or more), so a fast unsalted hash is enough: nobody can search
 * 2^256 inputs, and a slow KDF would only make every request slow. The presented token's hash
 * is compared with every known hash in constant time.
 */
public final class ApiTokens implements AuthenticationProvider {

  private record Entry(String name, byte[] hash, JsonArray groups) {
  }

  private volatile List<Entry> configured = List.of();
  private volatile List<Entry> fromFile = List.of();

  public void configured(List<AuthConfig.Token> tokens) {
    configured = entries(tokens);
  }

  public void fromFile(List<AuthConfig.Token> tokens) {
    fromFile = entries(tokens);
  }

  /** How many tokens are known now. */
  public int size() {
    return configured.size() + fromFile.size();
  }

  @Override
  public Future<User> authenticate(Credentials credentials) {
    if (!(credentials instanceof TokenCredentials token) || token.getToken() == null) {
      return Future.failedFuture("expected a bearer token");
    }
    byte[] hash = sha256(token.getToken());
    Entry match = null;
    // every entry is compared, so the time does not say which one matched
    for (List<Entry> list : List.of(configured, fromFile)) {
      for (Entry e : list) {
        if (MessageDigest.isEqual(e.hash, hash) && match == null) {
          match = e;
        }
      }
    }
    if (match == null) {
      return Future.failedFuture("unknown or revoked token");
    }
    return Future.succeededFuture(User.create(new JsonObject().put("sub", match.name)
        .put("groups", match.groups.copy())));
  }

  static byte[] sha256(String token) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }

  private static List<Entry> entries(List<AuthConfig.Token> tokens) {
    List<Entry> out = new ArrayList<>();
    for (AuthConfig.Token t : tokens) {
      out.add(new Entry(t.name(), HexFormat.of().parseHex(t.hash().substring("sha256:".length())),
          new JsonArray(t.groups().stream().sorted().toList())));
    }
    return List.copyOf(out);
  }
}
