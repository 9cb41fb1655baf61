package io.qgagateway.api;

/** Failure codes of the public contract (API.md section 2), used on the bus and as HTTP status. */
public final class Codes {
  public static final int BAD_REQUEST = 400;
  public static final int UNAUTHORIZED = 401;
  public static final int FORBIDDEN = 403;
  public static final int UNKNOWN_GUEST = 404;
  public static final int FROZEN = 423;
  public static final int BUSY = 429;
  public static final int ERROR = 500;
  public static final int UNSUPPORTED = 501;
  public static final int AGENT_ERROR = 502;
  public static final int NOT_CONNECTED = 503;
  public static final int TIMEOUT = 504;

  private Codes() {
  }
}
