package io.qgagateway.auth;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Who sent a request: a name, the groups it belongs to, and whether it holds every class on every
 * guest (only the ceiling, {@code policy}, limits it: the legacy {@code http.token}, an open
 * loopback gateway, the default event-bus principal). Set by the member the request entered
 * (HTTP, bridge) in {@link #HEADER}; the member holding the guest authorizes it.
 *
 * @param name         as audit lines and {@code qga_denied_total} name it
 * @param groups       what {@code auth.grants} may name besides the principal itself
 * @param unrestricted every class on every guest, within the policy
 */
public record Principal(String name, Set<String> groups, boolean unrestricted) {

  /** The bus header carrying the principal; HTTP and bridge callers cannot set it. */
  public static final String HEADER = "qga-principal";
  /** What names and groups look like, wherever they come from (config, file, JWT, certificate). */
  public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}");

  /** The legacy {@code http.token}: one principal with the ceiling's rights. */
  public static final Principal LEGACY_TOKEN = new Principal("http-token", Set.of(), true);
  /** HTTP or bridge on loopback with no credentials configured (the embedded demo). */
  public static final Principal ANONYMOUS = new Principal("anonymous", Set.of(), true);

  public Principal {
    groups = Set.copyOf(groups);
  }

  /** The header value: compact JSON. */
  public String toHeader() {
    JsonObject json = new JsonObject().put("name", name).put("groups", new JsonArray(
        groups.stream().sorted().toList()));
    if (unrestricted) {
      json.put("unrestricted", true);
    }
    return json.encode();
  }

  /**
   * The principal of a header value; null for a value that is not one (the request is then
   * refused: only the gateway and trusted members set this header).
   */
  public static Principal fromHeader(String header) {
    try {
      JsonObject json = new JsonObject(header);
      String name = json.getString("name");
      if (name == null || !NAME.matcher(name).matches()) {
        return null;
      }
      Set<String> groups = new LinkedHashSet<>();
      for (Object g : json.getJsonArray("groups", new JsonArray())) {
        if (!(g instanceof String group) || !NAME.matcher(group).matches()) {
          return null;
        }
        groups.add(group);
      }
      return new Principal(name, groups, json.getBoolean("unrestricted", false));
    } catch (DecodeException | ClassCastException e) {
      return null;
    }
  }

  @Override
  public String toString() {
    return name;
  }
}
