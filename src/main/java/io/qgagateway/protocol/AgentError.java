package io.qgagateway.protocol;

import io.qgagateway.api.Codes;

/** An error reply of the agent and the gateway code it maps to. */
public record AgentError(String errorClass, String desc) {

  /**
   * CommandNotFound covers both unknown and disabled commands; frozen filesystems disable
   * commands with a recognisable desc. Agents before 2.x said "disabled for this instance" with
   * class GenericError.
   */
  public int code() {
    if (desc.contains("frozen state")) {
      return Codes.FROZEN;
    }
    if ("CommandNotFound".equals(errorClass) || "Unsupported".equals(errorClass)
        || desc.contains("has been disabled for this instance")) {
      return Codes.UNSUPPORTED;
    }
    return Codes.AGENT_ERROR;
  }

  /** The contract's message form, {@code "<Class>: <desc>"}. */
  public String message() {
    return errorClass + ": " + desc;
  }
}
