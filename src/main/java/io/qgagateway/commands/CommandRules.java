package io.qgagateway.commands;

/**
 * The catalog (with configured timeouts) and the policy in force on this node; replaced as a
 * whole when the configuration changes, read by every request.
 */
public final class CommandRules {

  private record Rules(CommandCatalog catalog, Policy policy) {
  }

  private volatile Rules rules;

  public CommandRules(CommandCatalog catalog, Policy policy) {
    this.rules = new Rules(catalog, policy);
  }

  public CommandCatalog catalog() {
    return rules.catalog();
  }

  public Policy policy() {
    return rules.policy();
  }

  public void replace(CommandCatalog catalog, Policy policy) {
    rules = new Rules(catalog, policy);
  }
}
