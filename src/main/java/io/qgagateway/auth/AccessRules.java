package io.qgagateway.auth;

import io.qgagateway.config.AuthConfig;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code auth.grants} compiled: which principal or group may use which classes on which guests.
 * Nothing is granted unless a rule says so; an unrestricted principal holds everything (the
 * ceiling, {@code policy}, is applied before and still limits it). Replaced as a whole when the
 * configuration changes.
 */
public final class AccessRules {

  private record Rule(Set<String> principals, Set<String> groups, Set<CommandClass> classes,
                      List<Pattern> guests) {

    boolean covers(Principal p, CommandClass cls, String guest) {
      return classes.contains(cls) && names(p, guest);
    }

    /** The rule names the principal (or a group of it) and the guest, whatever the class. */
    boolean names(Principal p, String guest) {
      return (principals.contains(p.name()) || p.groups().stream().anyMatch(groups::contains))
          && guests.stream().anyMatch(g -> g.matcher(guest).matches());
    }
  }

  private final List<Rule> rules;
  private final Principal bus;
  private final Map<CommandClass, AuthConfig.Rate> rateLimits;

  private AccessRules(List<Rule> rules, Principal bus,
                      Map<CommandClass, AuthConfig.Rate> rateLimits) {
    this.rules = rules;
    this.bus = bus;
    this.rateLimits = rateLimits;
  }

  public static AccessRules of(AuthConfig auth) {
    List<Rule> rules = auth.grants().stream().map(g -> new Rule(g.principals(), g.groups(),
        g.classes(), g.guests().stream().map(AccessRules::glob).toList())).toList();
    return new AccessRules(rules, new Principal(auth.busPrincipal().name(), Set.of(),
        auth.busPrincipal().unrestricted()), auth.rateLimits());
  }

  /** The rate limit of a class ({@code auth.rateLimits}), or null when it has none. */
  public AuthConfig.Rate rateLimit(CommandClass cls) {
    return rateLimits.get(cls);
  }

  /**
   * The principal of a request from its {@link Principal#HEADER}: none means an event-bus caller
   * ({@code auth.busPrincipal}); null for a header that is not a principal.
   */
  public Principal principal(String header) {
    return header == null ? bus : Principal.fromHeader(header);
  }

  /** Why {@code principal} may not use {@code cls} on {@code guest}, or empty when it may. */
  public Optional<String> denial(Principal principal, CommandClass cls, String guest) {
    if (principal.unrestricted() || rules.stream().anyMatch(r -> r.covers(principal, cls, guest))) {
      return Optional.empty();
    }
    return Optional.of("principal " + principal.name() + " is not granted class " + cls.label()
        + " on guest " + guest + " (auth.grants)");
  }

  /**
   * Whether {@code principal} may see {@code guest} in the fleet listing: it holds some class on
   * it. Null (a header that is not a principal) sees nothing.
   */
  public boolean lists(Principal principal, String guest) {
    return principal != null && (principal.unrestricted()
        || rules.stream().anyMatch(r -> r.names(principal, guest)));
  }

  /** {@code vm-*}: {@code *} stands for any run of characters, everything else is literal. */
  static Pattern glob(String pattern) {
    StringBuilder regex = new StringBuilder();
    for (String part : pattern.split("\\*", -1)) {
      if (!regex.isEmpty()) {
        regex.append(".*");
      }
      regex.append(Pattern.quote(part));
    }
    return Pattern.compile(regex.toString());
  }
}
