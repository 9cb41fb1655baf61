package io.qgagateway.commands;

import io.qgagateway.auth.AccessRules;
import io.qgagateway.auth.RateLimiter;

/**
 * The catalog (with configured timeouts), the policy and the grants in force on this node;
 * replaced as a whole when the configuration changes, read by every request. The rate limiter's
 * buckets outlive a change; its limits follow it.
 */
public final class CommandRules {

  private record Rules(CommandCatalog catalog, Policy policy, AccessRules access) {
  }

  private volatile Rules rules;
  private final RateLimiter limiter = new RateLimiter();

  public CommandRules(CommandCatalog catalog, Policy policy, AccessRules access) {
    this.rules = new Rules(catalog, policy, access);
  }

  public CommandCatalog catalog() {
    return rules.catalog();
  }

  public Policy policy() {
    return rules.policy();
  }

  public AccessRules access() {
    return rules.access();
  }

  public RateLimiter limiter() {
    return limiter;
  }

  public void replace(CommandRules next) {
    rules = next.rules;
  }
}
