package io.qgagateway.protocol;

import java.util.Locale;

/** An error reply of the agent: its class and description, as the agent said them. */
public record AgentError(String errorClass, String desc) {

  /** Frozen filesystems disable commands with a recognisable desc. */
  public boolean frozen() {
    return desc.contains("frozen state");
  }

  /**
   * CommandNotFound covers both unknown and disabled commands; agents before 2.x said "disabled
   * for this instance" with class GenericError.
   */
  public boolean unsupported() {
    return "CommandNotFound".equals(errorClass) || "Unsupported".equals(errorClass)
        || desc.contains("has been disabled for this instance");
  }

  /**
   * The agent could not read a request as one object: a lexer or parser error, or one of its
   * input limits (token count, token size, nesting). It may have split the request and will
   * answer the rest as more requests, so the link must resync.
   */
  public boolean parseError() {
    String d = desc.toLowerCase(Locale.ROOT);
    return d.contains("json") || d.contains("limit exceeded") || d.startsWith("qmp input");
  }
}
