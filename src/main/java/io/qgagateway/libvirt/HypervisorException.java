package io.qgagateway.libvirt;

/** A libvirt error: its {@code virErrorNumber}, {@code virErrorDomain} and message. */
public final class HypervisorException extends Exception {

  // virErrorNumber values the gateway tells apart (libvirt's virerror.h)
  public static final int INTERNAL_ERROR = 1;
  public static final int NO_SUPPORT = 3;
  public static final int NO_CONNECT = 5;
  public static final int INVALID_CONN = 6;
  public static final int OPERATION_FAILED = 9;
  public static final int SYSTEM_ERROR = 38;
  public static final int RPC = 39;
  public static final int NO_DOMAIN = 42;
  public static final int AUTH_FAILED = 45;
  public static final int OPERATION_INVALID = 55;
  public static final int CONFIG_UNSUPPORTED = 67;
  public static final int OPERATION_TIMEOUT = 68;
  public static final int ARGUMENT_UNSUPPORTED = 74;
  public static final int OPERATION_UNSUPPORTED = 84;
  public static final int AGENT_UNRESPONSIVE = 86;
  public static final int ACCESS_DENIED = 88;
  public static final int AGENT_UNSYNCED = 97;

  private final int code;
  private final int domain;

  public HypervisorException(int code, int domain, String message) {
    super(message == null ? "libvirt error " + code : message, null, false, false);
    this.code = code;
    this.domain = domain;
  }

  /** libvirt's {@code virErrorNumber}. */
  public int code() {
    return code;
  }

  /** libvirt's {@code virErrorDomain} (10 = the QEMU driver). */
  public int domain() {
    return domain;
  }
}
