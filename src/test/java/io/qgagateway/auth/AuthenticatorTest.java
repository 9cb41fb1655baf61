package io.qgagateway.auth;

import io.qgagateway.config.ConfigException;
import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.auth.JWTOptions;
import io.vertx.ext.auth.PubSecKeyOptions;
import io.vertx.ext.auth.jwt.JWTAuth;
import io.vertx.ext.auth.jwt.JWTAuthOptions;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Bearer tokens and JWTs to principals: the legacy token keeps its exact behaviour, a JWT of
 * the configured issuer and audience maps its claims, and expired, not-yet-valid, foreign-signed
 * or foreign-audience JWTs are refused with 401.
 */
@ExtendWith(VertxExtension.class)
class AuthenticatorTest {

  private static final String ISSUER = "https://idp.test";
  private static final String AUDIENCE = "qga-gateway";

  @TempDir
  static Path dir;

  private static KeyPair key;
  private static KeyPair otherKey;
  private static Path publicKey;

  @BeforeAll
  static void keys() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
    generator.initialize(2048);
    key = generator.generateKeyPair();
    otherKey = generator.generateKeyPair();
    publicKey = dir.resolve("jwt.pem");
    Files.writeString(publicKey, pem("PUBLIC KEY", key.getPublic().getEncoded()));
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }

  private static String sign(Vertx vertx, KeyPair signer, JsonObject claims) {
    JWTAuth issuer = JWTAuth.create(vertx, new JWTAuthOptions().addPubSecKey(
        new PubSecKeyOptions().setAlgorithm("RS256")
            .setBuffer(pem("PRIVATE KEY", signer.getPrivate().getEncoded()))));
    return issuer.generateToken(claims, new JWTOptions().setAlgorithm("RS256")
        .setNoTimestamp(true));
  }

  private static JsonObject claims(long expOffsetSeconds) {
    long now = System.currentTimeMillis() / 1000;
    return new JsonObject().put("iss", ISSUER).put("aud", AUDIENCE).put("sub", "backup-job")
        .put("groups", new JsonArray().add("backups").add("not a valid group"))
        .put("iat", now - 10).put("exp", now + expOffsetSeconds);
  }

  private static Authenticator start(Vertx vertx, JsonObject auth, String legacyToken)
      throws Exception {
    JsonObject config = new JsonObject().put("node", new JsonObject().put("name", "t"))
        .put("http", new JsonObject().put("token", legacyToken)).put("auth", auth);
    return Authenticator.start(vertx, GatewayConfig.parse(config)).await(10, TimeUnit.SECONDS);
  }

  private static JsonObject jwtConfig() {
    return new JsonObject().put("jwt", new JsonObject().put("issuer", ISSUER)
        .put("audience", new JsonArray().add(AUDIENCE))
        .put("publicKeyFile", publicKey.toString()));
  }

  private static ReplyException refused(Future<Principal> future) throws Exception {
    try {
      Principal p = future.await(10, TimeUnit.SECONDS);
      return fail("expected a refusal, got " + p);
    } catch (ReplyException e) {
      return e;
    }
  }

  @Test
  void aValidJwtMapsItsClaims(Vertx vertx) throws Exception {
    Authenticator auth = start(vertx, jwtConfig(), null);
    Principal p = auth.bearer("Bearer " + sign(vertx, key, claims(300)))
        .await(10, TimeUnit.SECONDS);
    assertEquals(new Principal("backup-job", Set.of("backups"), false), p);
  }

  @Test
  void aJwksFileServesAsWell(Vertx vertx) throws Exception {
    java.security.interfaces.RSAPublicKey rsa = (java.security.interfaces.RSAPublicKey)
        key.getPublic();
    Base64.Encoder url = Base64.getUrlEncoder().withoutPadding();
    JsonObject jwk = new JsonObject().put("kty", "RSA").put("alg", "RS256").put("use", "sig")
        .put("n", url.encodeToString(unsigned(rsa.getModulus().toByteArray())))
        .put("e", url.encodeToString(unsigned(rsa.getPublicExponent().toByteArray())));
    Path jwks = dir.resolve("jwks.json");
    Files.writeString(jwks, new JsonObject().put("keys", new JsonArray().add(jwk)).encode());
    JsonObject config = jwtConfig();
    config.getJsonObject("jwt").remove("publicKeyFile");
    config.getJsonObject("jwt").put("jwksFile", jwks.toString());
    Authenticator auth = start(vertx, config, null);
    assertEquals("backup-job", auth.bearer("Bearer " + sign(vertx, key, claims(300)))
        .await(10, TimeUnit.SECONDS).name());
    assertEquals(401, refused(auth.bearer("Bearer " + sign(vertx, otherKey, claims(300))))
        .failureCode());
  }

  private static byte[] unsigned(byte[] twosComplement) {
    return twosComplement[0] == 0
        ? java.util.Arrays.copyOfRange(twosComplement, 1, twosComplement.length) : twosComplement;
  }

  @Test
  void expiredNotYetValidForeignOrMisaddressedJwtsAre401(Vertx vertx) throws Exception {
    Authenticator auth = start(vertx, jwtConfig(), null);
    long now = System.currentTimeMillis() / 1000;
    List<String> bad = List.of(
        sign(vertx, key, claims(-120)),
        sign(vertx, key, claims(300).put("nbf", now + 3600)),
        sign(vertx, otherKey, claims(300)),
        sign(vertx, key, claims(300).put("aud", "another-service")),
        sign(vertx, key, claims(300).put("iss", "https://evil.test")),
        sign(vertx, key, claims(300).put("sub", "has spaces")),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
    for (String token : bad) {
      ReplyException e = refused(auth.bearer("Bearer " + token));
      assertEquals(401, e.failureCode(), token);
      assertFalse(e.getMessage().contains(token), "no token in a message");
    }
  }

  @Test
  void theLegacyTokenIsOnePrincipalWithTheCeiling(Vertx vertx) throws Exception {
    Authenticator auth = start(vertx, new JsonObject(), "s3cret-legacy");
    assertTrue(auth.hasCredentials());
    Principal p = auth.bearer("Bearer s3cret-legacy").await(10, TimeUnit.SECONDS);
    assertEquals(Principal.LEGACY_TOKEN, p);
    assertTrue(p.unrestricted());
    assertEquals(401, refused(auth.bearer("Bearer s3cret-legac")).failureCode());
    assertEquals(401, refused(auth.bearer("Token s3cret-legacy")).failureCode());
  }

  @Test
  void aRotatedKeyFileIsUsedWithoutRestartAndAnUnusableOneKeepsThePreviousKey(Vertx vertx)
      throws Exception {
    Path rotating = dir.resolve("rotating.pem");
    Files.writeString(rotating, pem("PUBLIC KEY", key.getPublic().getEncoded()));
    JsonObject config = jwtConfig().put("reloadMs", 100);
    config.getJsonObject("jwt").put("publicKeyFile", rotating.toString());
    Authenticator auth = start(vertx, config, null);
    try {
      assertEquals("backup-job", auth.bearer("Bearer " + sign(vertx, key, claims(300)))
          .await(10, TimeUnit.SECONDS).name());
      // the issuer rotates its key, the Secret's file changes in place
      Files.writeString(rotating, pem("PUBLIC KEY", otherKey.getPublic().getEncoded()));
      String rotated = "Bearer " + sign(vertx, otherKey, claims(300));
      long deadline = System.currentTimeMillis() + 5_000;
      while (true) {
        try {
          auth.bearer(rotated).await(10, TimeUnit.SECONDS);
          break;
        } catch (ReplyException e) {
          if (System.currentTimeMillis() > deadline) {
            fail("the rotated key was not taken within 5 s: " + e.getMessage());
          }
          Thread.sleep(50);
        }
      }
      assertEquals(401, refused(auth.bearer("Bearer " + sign(vertx, key, claims(300))))
          .failureCode());
      Files.writeString(rotating, "-----BEGIN PUBLIC KEY-----\nbroken\n-----END PUBLIC KEY-----\n");
      Thread.sleep(500);
      assertEquals("backup-job", auth.bearer(rotated).await(10, TimeUnit.SECONDS).name(),
          "an unusable file keeps the previous key");
      Files.delete(rotating);
      Thread.sleep(500);
      assertEquals("backup-job", auth.bearer(rotated).await(10, TimeUnit.SECONDS).name(),
          "a missing file keeps the previous key");
    } finally {
      auth.close();
    }
  }

  @Test
  void aJwtKeyThatCannotBeReadStopsTheStart(Vertx vertx) {
    JsonObject config = jwtConfig();
    config.getJsonObject("jwt").put("publicKeyFile", dir.resolve("missing.pem").toString());
    Exception e = assertThrows(ConfigException.class, () -> start(vertx, config, null));
    assertTrue(e.getMessage().startsWith("auth.jwt.publicKeyFile: cannot read"), e.getMessage());
  }

  @Test
  void aJwtKeyFileWithoutAUsableKeyStopsTheStartWithoutShowingItsContent(Vertx vertx)
      throws Exception {
    Path jwks = dir.resolve("broken.jwks");
    Files.writeString(jwks, "{\"keys\": [secret-looking-garbage");
    JsonObject config = jwtConfig();
    config.getJsonObject("jwt").remove("publicKeyFile");
    config.getJsonObject("jwt").put("jwksFile", jwks.toString());
    Exception e = assertThrows(ConfigException.class, () -> start(vertx, config, null));
    assertTrue(e.getMessage().startsWith("auth.jwt.jwksFile: " + jwks + " holds no usable key"),
        e.getMessage());
    assertFalse(e.getMessage().contains("garbage"), e.getMessage());
  }

  @Test
  void badAuthConfigurationNamesTheKey() {
    for (Object[] c : new Object[][] {
        {new JsonObject().put("tokens", new JsonArray().add(new JsonObject().put("name", "x")
            .put("hash", "plain-text-token"))), "auth.tokens[0].hash"},
        {new JsonObject().put("grants", new JsonArray().add(new JsonObject()
            .put("principals", new JsonArray().add("x")).put("classes", new JsonArray()
                .add("everything")).put("guests", new JsonArray().add("*")))),
            "auth.grants[0].classes: unknown class 'everything'"},
        {new JsonObject().put("grants", new JsonArray().add(new JsonObject()
            .put("classes", new JsonArray().add("read")).put("guests", new JsonArray().add("*")))),
            "auth.grants[0].principals"},
        {new JsonObject().put("rateLimits", new JsonObject().put("exek", new JsonObject())),
            "auth.rateLimits.exek: unknown key"},
        {new JsonObject().put("jwt", new JsonObject().put("issuer", ISSUER)
            .put("publicKeyFile", "x.pem")), "auth.jwt.audience"},
        {new JsonObject().put("tokenz", 1), "auth.tokenz: unknown key"}}) {
      ConfigException e = assertThrows(ConfigException.class, () -> GatewayConfig.parse(
          new JsonObject().put("auth", c[0])));
      assertTrue(e.getMessage().startsWith((String) c[1]), e.getMessage());
    }
  }

  @Test
  void theSha256OfTheTokenIsWhatIsStored() {
    assertInstanceOf(byte[].class, ApiTokens.sha256("x"));
    // printf %s abc | sha256sum
    assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        java.util.HexFormat.of().formatHex(ApiTokens.sha256("abc")));
  }
}
