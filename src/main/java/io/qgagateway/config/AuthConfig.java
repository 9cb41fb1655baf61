package io.qgagateway.config;

import io.qgagateway.auth.CommandClass;
import io.qgagateway.auth.Principal;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code auth} section (docs/SECURITY.md): who the callers are (named API tokens, from the
 * file and/or a token file; JWTs; client certificates) and what each may do (grants, rate
 * limits). Everything here but {@code jwt} and {@code certificates} applies without restart.
 *
 * @param tokens      named tokens, their hashes only
 * @param tokensFile  a file of more tokens ({@code tokens: [...]}), re-read every {@code reloadMs}
 * @param jwt         null when JWTs are not accepted
 * @param busPrincipal the principal of an event-bus request that carries none
 * @param grants      empty: every authenticated principal has the ceiling's rights (as before)
 */
public record AuthConfig(List<Token> tokens, String tokensFile, long reloadMs, Jwt jwt,
                         Certificates certificates, BusPrincipal busPrincipal, List<Grant> grants,
                         Map<CommandClass, Rate> rateLimits) {

  /** {@code sha256:} and 64 hex digits: SHA-256 of the token's UTF-8 bytes. */
  public static final Pattern HASH = Pattern.compile("sha256:[0-9a-f]{64}");

  public static final AuthConfig NONE = new AuthConfig(List.of(), null, 5000, null,
      new Certificates(false, "cn"), new BusPrincipal("eventbus", true), List.of(), Map.of());

  /** One named API token. */
  public record Token(String name, String hash, Set<String> groups) {
  }

  /** JWTs of one issuer, checked with its public key (PEM) or a JWKS file. */
  public record Jwt(String issuer, List<String> audience, String algorithm, String publicKeyFile,
                    String jwksFile, String nameClaim, String groupsClaim) {
  }

  /** Client certificates the TLS layer verified: the principal is the CN or a SAN, groups O. */
  public record Certificates(boolean enabled, String principalFrom) {
    public static final List<String> SOURCES = List.of("cn", "san-dns", "san-uri", "san-email");
  }

  public record BusPrincipal(String name, boolean unrestricted) {
  }

  /** {@code classes} on the guests matching {@code guests}, for the principals and groups named. */
  public record Grant(Set<String> principals, Set<String> groups, Set<CommandClass> classes,
                      List<String> guests) {
  }

  /** A token bucket: {@code perMinute} refill, up to {@code burst} at once. */
  public record Rate(long perMinute, long burst) {
  }

  /** Whether any way to authenticate is configured besides the legacy token. */
  public boolean hasCredentials() {
    return !tokens.isEmpty() || tokensFile != null || jwt != null || certificates.enabled();
  }

  static AuthConfig parse(Section a) {
    List<Token> tokens = tokens(a.sections("tokens"));
    String tokensFile = emptyToNull(a.string("tokensFile", null));
    long reloadMs = a.number("reloadMs", 5000, 100, 3_600_000);

    Section j = a.section("jwt");
    Jwt jwt = null;
    if (j.has("issuer") || j.has("publicKeyFile") || j.has("jwksFile")) {
      String issuer = j.string("issuer", null);
      List<String> audience = j.strings("audience");
      String publicKeyFile = emptyToNull(j.string("publicKeyFile", null));
      String jwksFile = emptyToNull(j.string("jwksFile", null));
      if (issuer == null) {
        throw new ConfigException(j.key("issuer") + ": required with auth.jwt");
      }
      if (audience.isEmpty()) {
        throw new ConfigException(j.key("audience") + ": required with auth.jwt (a token "
            + "issued for another service must not be accepted here)");
      }
      if ((publicKeyFile == null) == (jwksFile == null)) {
        throw new ConfigException(j.key("publicKeyFile") + ": give exactly one of publicKeyFile "
            + "or jwksFile");
      }
      jwt = new Jwt(issuer, audience, j.string("algorithm", "RS256"), publicKeyFile, jwksFile,
          j.string("nameClaim", "sub"), j.string("groupsClaim", "groups"));
    }
    j.finish();

    Section c = a.section("certificates");
    Certificates certificates = new Certificates(c.bool("enabled", false),
        c.string("principalFrom", "cn"));
    if (!Certificates.SOURCES.contains(certificates.principalFrom())) {
      throw new ConfigException(c.key("principalFrom") + ": expected one of "
          + String.join(", ", Certificates.SOURCES));
    }
    c.finish();

    Section b = a.section("busPrincipal");
    BusPrincipal bus = new BusPrincipal(name(b, "name", b.string("name", "eventbus")),
        b.bool("unrestricted", true));
    b.finish();

    List<Grant> grants = new ArrayList<>();
    for (Section g : a.sections("grants")) {
      grants.add(grant(g));
    }

    Map<CommandClass, Rate> rates = new EnumMap<>(CommandClass.class);
    Section r = a.section("rateLimits");
    for (CommandClass cls : CommandClass.values()) {
      if (r.has(cls.label())) {
        Section one = r.section(cls.label());
        rates.put(cls, new Rate(one.number("perMinute", 60, 1, 6_000_000),
            one.number("burst", 10, 1, 1_000_000)));
        one.finish();
      }
    }
    r.finish();
    a.finish();
    return new AuthConfig(tokens, tokensFile, reloadMs, jwt, certificates, bus, List.copyOf(grants),
        Map.copyOf(rates));
  }

  /**
   * The token list of {@code tokens: [...]} in a token file, checked as in the configuration.
   *
   * @throws ConfigException naming the entry and key
   */
  public static List<Token> tokenFile(JsonObject json) {
    Section root = Section.root(json);
    List<Token> tokens = tokens(root.sections("tokens"));
    root.finish();
    return tokens;
  }

  private static List<Token> tokens(List<Section> entries) {
    List<Token> tokens = new ArrayList<>();
    Set<String> names = new HashSet<>();
    Set<String> hashes = new HashSet<>();
    for (Section t : entries) {
      String name = name(t, "name", t.string("name", null));
      String hash = t.string("hash", null);
      if (hash == null || !HASH.matcher(hash).matches()) {
        throw new ConfigException(t.key("hash") + ": expected sha256:<64 lower-case hex digits> "
            + "(printf %s \"$TOKEN\" | sha256sum)");
      }
      Set<String> groups = names(t, "groups");
      t.finish();
      if (!names.add(name)) {
        throw new ConfigException(t.key("name") + ": token '" + name + "' is listed twice");
      }
      if (!hashes.add(hash)) {
        throw new ConfigException(t.key("hash") + ": the same token is listed twice");
      }
      tokens.add(new Token(name, hash, groups));
    }
    return List.copyOf(tokens);
  }

  private static Grant grant(Section g) {
    Set<String> principals = names(g, "principals");
    Set<String> groups = names(g, "groups");
    if (principals.isEmpty() && groups.isEmpty()) {
      throw new ConfigException(g.key("principals") + ": name at least one principal or group");
    }
    Set<CommandClass> classes = EnumSet.noneOf(CommandClass.class);
    for (String label : g.strings("classes")) {
      if (label.equals("*")) {
        classes.addAll(EnumSet.allOf(CommandClass.class));
        continue;
      }
      classes.add(CommandClass.byLabel(label).orElseThrow(() -> new ConfigException(
          g.key("classes") + ": unknown class '" + label + "' (" + CommandClass.labels()
              + ", or *)")));
    }
    if (classes.isEmpty()) {
      throw new ConfigException(g.key("classes") + ": required (" + CommandClass.labels() + ")");
    }
    List<String> guests = g.strings("guests");
    if (guests.isEmpty()) {
      throw new ConfigException(g.key("guests") + ": required (names or patterns like vm-*, "
          + "* for all)");
    }
    for (String guest : guests) {
      if (!guest.matches("[A-Za-z0-9._*-]{1,128}")) {
        throw new ConfigException(g.key("guests") + ": '" + guest + "' is not a guest name or "
            + "pattern");
      }
    }
    g.finish();
    return new Grant(principals, groups, Set.copyOf(classes), List.copyOf(guests));
  }

  private static Set<String> names(Section s, String key) {
    Set<String> out = new LinkedHashSet<>();
    for (String name : s.strings(key)) {
      out.add(name(s, key, name));
    }
    return Set.copyOf(out);
  }

  private static String name(Section s, String key, String name) {
    if (name == null) {
      throw new ConfigException(s.key(key) + ": required");
    }
    if (!Principal.NAME.matcher(name).matches()) {
      throw new ConfigException(s.key(key) + ": '" + name + "' is not a valid name ("
          + Principal.NAME.pattern() + ")");
    }
    return name;
  }

  private static String emptyToNull(String value) {
    return value == null || value.isEmpty() ? null : value;
  }
}
