package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.commands.CommandSpec.Kind;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which commands and operations the gateway lets through (API.md section 6).
 *
 * <p>Names are full agent command names ({@code guest-exec}) or the operations {@code run},
 * {@code file-get}, {@code file-put}, {@code command} and {@code sync}; a name ending in
 * {@code *} is a prefix ({@code guest-file-*}). The default set allows everything the catalog
 * does not mark restricted; {@code allow} adds, {@code deny} removes, and deny wins. A name or
 * prefix that matches nothing is an {@link IllegalArgumentException}, so a typo stops start-up.
 *
 * <p>Operations and commands are separate names. Allowing {@code run} lets the gateway itself
 * send guest-exec and guest-exec-status for it, but does not open {@code agent.exec}, and
 * allowing guest-exec does not open {@code agent.run}; the same holds for {@code file-get} and
 * {@code file-put} with guest-file-*. {@code agent.command} is checked twice: {@code command}
 * must be allowed, and so must the command it executes. A command the catalog does not know
 * (a newer agent's) has no default entry: through {@code command} it is allowed unless a deny
 * prefix matches it. {@code guests} lists the cluster and involves no guest: not a policy name.
 */
public final class Policy {

  private final Set<String> allowed;
  private final Set<String> catalogNames;
  private final List<String> deny;

  private Policy(Set<String> allowed, Set<String> catalogNames, List<String> deny) {
    this.allowed = allowed;
    this.catalogNames = catalogNames;
    this.deny = deny;
  }

  /** The default policy of API.md section 6. */
  public static Policy defaults(CommandCatalog catalog) {
    return of(catalog, List.of(), List.of());
  }

  /**
   * From configuration {@code policy: {allow: [...], deny: [...]}}; null means the defaults.
   *
   * @throws IllegalArgumentException naming the bad key or name
   */
  public static Policy fromConfig(CommandCatalog catalog, JsonObject config) {
    if (config == null) {
      return defaults(catalog);
    }
    for (String key : config.fieldNames()) {
      if (!key.equals("allow") && !key.equals("deny")) {
        throw new IllegalArgumentException("policy." + key + ": unknown key (allow, deny)");
      }
    }
    return of(catalog, names(config, "allow"), names(config, "deny"));
  }

  /** From name lists; the same checks as {@link #fromConfig}. */
  public static Policy of(CommandCatalog catalog, Collection<String> allow,
                          Collection<String> deny) {
    Set<String> known = catalog.exposed().stream()
        .filter(s -> s.kind() != Kind.CLUSTER)
        .map(CommandSpec::name)
        .collect(Collectors.toUnmodifiableSet());
    check(known, "allow", allow);
    check(known, "deny", deny);
    Set<String> allowed = catalog.exposed().stream()
        .filter(s -> known.contains(s.name()))
        .filter(s -> !s.restricted() || matchesAny(allow, s.name()))
        .map(CommandSpec::name)
        .filter(name -> !matchesAny(deny, name))
        .collect(Collectors.toUnmodifiableSet());
    Set<String> catalogNames = catalog.all().stream()
        .map(CommandSpec::name)
        .collect(Collectors.toUnmodifiableSet());
    return new Policy(allowed, catalogNames, List.copyOf(deny));
  }

  /** Whether {@code name} (a command or operation) may be sent to any guest. */
  public boolean allows(String name) {
    if (catalogNames.contains(name)) {
      return allowed.contains(name);
    }
    return RequestBody.EXECUTE.matcher(name).matches() && !matchesAny(deny, name);
  }

  /** The 403 for a forbidden name, saying which configuration key would change it. */
  public ReplyException forbidden(String name, String guest) {
    String hint = matchesAny(deny, name) ? "it is in policy.deny" : "allow it in policy.allow";
    return Failures.of(Codes.FORBIDDEN,
        "policy forbids " + name + " for guest " + guest + "; " + hint);
  }

  /**
   * The 403 for a request, if any: its address's name, and on {@code agent.command} also the
   * command it executes. {@code agent.guests} is never forbidden.
   */
  public Optional<ReplyException> check(RequestBody request) {
    CommandSpec spec = request.spec();
    if (spec.kind() == Kind.CLUSTER) {
      return Optional.empty();
    }
    if (!allows(spec.name())) {
      return Optional.of(forbidden(spec.name(), request.guest()));
    }
    if (spec.kind() == Kind.PASSTHROUGH && !allows(request.execute())) {
      return Optional.of(forbidden(request.execute(), request.guest()));
    }
    return Optional.empty();
  }

  private static List<String> names(JsonObject config, String key) {
    Object value = config.getValue(key);
    if (value == null) {
      return List.of();
    }
    if (!(value instanceof JsonArray array)) {
      throw new IllegalArgumentException("policy." + key + ": expected a list of names");
    }
    List<String> names = new ArrayList<>();
    for (int i = 0; i < array.size(); i++) {
      if (!(array.getValue(i) instanceof String name)) {
        throw new IllegalArgumentException("policy." + key + "[" + i + "]: expected a name");
      }
      names.add(name);
    }
    return names;
  }

  private static void check(Set<String> known, String key, Collection<String> names) {
    for (String name : names) {
      if (known.stream().noneMatch(k -> matches(name, k))) {
        throw new IllegalArgumentException("policy." + key + ": unknown command or operation '"
            + name + "'");
      }
    }
  }

  private static boolean matchesAny(Collection<String> patterns, String name) {
    return patterns.stream().anyMatch(p -> matches(p, name));
  }

  private static boolean matches(String pattern, String name) {
    return pattern.endsWith("*")
        ? name.startsWith(pattern.substring(0, pattern.length() - 1)) : name.equals(pattern);
  }
}
