package io.qgagateway.link;

/**
 * Tuning of one guest link; defaults suit a libvirt host. {@code link:} in the configuration.
 *
 * @param maxReplyBytes       the largest reply accepted; larger is a protocol error (16 MiB)
 * @param queueSize           commands waiting per guest before 429
 * @param syncTimeoutMs       how long one sync attempt waits for its delimited return
 * @param syncAttempts        sync attempts on one connection before it is dropped and redialled
 * @param reconnectInitialMs  first reconnect delay; doubles per failure, with jitter
 * @param reconnectMaxMs      reconnect delay ceiling
 * @param noResponseGraceMs   the longest a command without success reply (shutdown, suspend)
 *                            waits for evidence (an error, EOF, the agent answering the sync
 *                            pipelined behind it) before it counts as sent; 3 s, where a failing
 *                            suspend-disk answered after 0.37-0.77 s on a TCG guest
 * @param infoTimeoutMs       how long each refresh command after a sync may take
 * @param probeAfterMs        how long a command may run before a {@code guest-sync-delimited} is
 *                            pipelined behind it to learn whether the agent still holds it (then
 *                            again at doubling intervals); 0 turns probing off
 */
public record LinkOptions(int maxReplyBytes, int queueSize, long syncTimeoutMs, int syncAttempts,
                          long reconnectInitialMs, long reconnectMaxMs, long noResponseGraceMs,
                          long infoTimeoutMs, long probeAfterMs) {

  public static final LinkOptions DEFAULTS =
      new LinkOptions(16 * 1024 * 1024, 64, 3000, 3, 200, 30_000, 3000, 3000, 1000);

  public LinkOptions {
    if (maxReplyBytes < 1024) {
      throw new IllegalArgumentException("link.maxReplyBytes must be at least 1024");
    }
    if (queueSize < 1) {
      throw new IllegalArgumentException("link.queueSize must be at least 1");
    }
    if (syncTimeoutMs < 1 || syncAttempts < 1 || reconnectInitialMs < 1
        || reconnectMaxMs < reconnectInitialMs || noResponseGraceMs < 0 || infoTimeoutMs < 1
        || probeAfterMs < 0) {
      throw new IllegalArgumentException("link timings must be positive and "
          + "link.reconnectMaxMs at least link.reconnectInitialMs");
    }
  }
}
