package io.qgagateway.commands;

/**
 * The gateway's own operations on one guest, each a row of {@link CommandCatalog} served by the
 * guest's endpoint: the catalog names them, so dispatch is a switch the compiler checks, not a
 * match on strings.
 */
public enum GuestOperation {
  /** {@code agent.sync}: resync the link now. */
  SYNC("sync"),
  /** {@code agent.run}: guest-exec, then guest-exec-status until exit. */
  RUN("run"),
  /** {@code agent.file-get}: open, read in chunks, close. */
  FILE_GET("file-get"),
  /** {@code agent.file-put}: open, write in chunks, close. */
  FILE_PUT("file-put"),
  /** {@code agent.wakeup}: wake a suspended guest through its hypervisor. */
  WAKEUP("wakeup");

  private final String address;

  GuestOperation(String address) {
    this.address = address;
  }

  /** The address suffix and the name policy uses. */
  public String address() {
    return address;
  }
}
