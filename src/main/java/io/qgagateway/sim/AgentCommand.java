package io.qgagateway.sim;

import io.vertx.core.json.JsonObject;

/**
 * One command of the simulated agent.
 *
 * @param successResponse false for shutdown and suspend, which never answer on success
 * @param allowedWhenFrozen whether it still runs while filesystems are frozen
 */
record AgentCommand(String name, Param[] params, boolean successResponse,
                    boolean allowedWhenFrozen, Body body) {

  /** What the command does; its return value becomes {@code "return"}. */
  @FunctionalInterface
  interface Body {
    Object run(SimulatedGuest guest, JsonObject args, AgentCommands catalog);
  }
}
