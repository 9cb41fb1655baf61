package io.qgagateway.libvirt;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.protocol.AgentError;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * libvirt's errors in the contract's codes (API.md section 2). libvirt hands on an agent error
 * as {@code "internal error: unable to execute QEMU agent command 'X': DESC"}, without the
 * agent's class: the class is inferred from the description ({@code CommandNotFound} for an
 * unknown or disabled command, which is what qemu-ga reports with another class than
 * {@code GenericError}), so the codes match the socket backend's: 423 frozen, 501 unknown or
 * disabled, 502 any other agent error.
 */
public final class LibvirtFailures {

  private static final Pattern AGENT_ERROR =
      Pattern.compile("unable to execute QEMU agent command '([^']*)'(?:: (.*))?", Pattern.DOTALL);

  private LibvirtFailures() {
  }

  /**
   * @param guest     for messages
   * @param timeoutMs the request's timeout, for a 504's message
   */
  public static GatewayFailure of(HypervisorException e, String guest, long timeoutMs) {
    String message = e.getMessage();
    if (message.contains("does not have suspend support")
        || message.contains("state is disabled for this domain")) {
      // the suspend would leave the guest asleep for good (QEMU's wakeup-suspend-support) or
      // the domain's <pm> turns it off: whatever code libvirt uses, the guest cannot do it
      return Failures.agent(Codes.UNSUPPORTED, "Unsupported", "libvirt: " + message);
    }
    switch (e.code()) {
      case HypervisorException.INTERNAL_ERROR -> {
        Matcher m = AGENT_ERROR.matcher(message);
        if (m.find()) {
          String desc = m.group(2) == null ? "the agent failed " + m.group(1) : m.group(2).strip();
          return agentError(desc);
        }
        return Failures.of(Codes.AGENT_ERROR, "libvirt: " + message);
      }
      case HypervisorException.AGENT_UNRESPONSIVE -> {
        if (message.contains("not available for now")) {
          return Failures.of(Codes.TIMEOUT, "no reply from the agent of " + guest + " within "
              + timeoutMs + " ms (libvirt: " + message + ")");
        }
        return Failures.of(Codes.NOT_CONNECTED, "the agent of " + guest + " is not reachable ("
            + "libvirt: " + message + ")");
      }
      case HypervisorException.OPERATION_TIMEOUT -> {
        return Failures.of(Codes.TIMEOUT, "libvirt: " + message);
      }
      case HypervisorException.OPERATION_INVALID, HypervisorException.AGENT_UNSYNCED,
          HypervisorException.NO_DOMAIN, HypervisorException.NO_CONNECT,
          HypervisorException.INVALID_CONN, HypervisorException.SYSTEM_ERROR,
          HypervisorException.RPC, HypervisorException.AUTH_FAILED,
          HypervisorException.ACCESS_DENIED -> {
        return Failures.of(Codes.NOT_CONNECTED, "guest " + guest + " cannot take commands now ("
            + "libvirt: " + message + ")");
      }
      case HypervisorException.NO_SUPPORT, HypervisorException.OPERATION_UNSUPPORTED,
          HypervisorException.ARGUMENT_UNSUPPORTED, HypervisorException.CONFIG_UNSUPPORTED -> {
        return Failures.agent(Codes.UNSUPPORTED, "Unsupported", "libvirt: " + message);
      }
      default -> {
        return Failures.of(Codes.AGENT_ERROR, "libvirt: " + message);
      }
    }
  }

  /** An agent error whose class libvirt dropped. */
  static GatewayFailure agentError(String desc) {
    String agentClass = desc.contains("has not been found") || desc.contains("has been disabled")
        ? "CommandNotFound" : "GenericError";
    AgentError error = new AgentError(agentClass, desc);
    int code = error.frozen() ? Codes.FROZEN
        : error.unsupported() ? Codes.UNSUPPORTED : Codes.AGENT_ERROR;
    return Failures.agent(code, agentClass, desc);
  }
}
