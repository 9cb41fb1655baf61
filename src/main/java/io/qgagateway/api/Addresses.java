package io.qgagateway.api;

/** Event-bus addresses: the public ones of API.md and the gateway's internal ones. */
public final class Addresses {

  /** Public command and operation addresses are this prefix + the command's suffix. */
  public static final String PUBLIC_PREFIX = "agent.";
  public static final String EVENTS = "agent.events";
  public static final String GUESTS = "agent.guests";

  private static final String LINK_PREFIX = "qga.link.";
  private static final String LOCAL_PREFIX = "qga.local.";
  private static final String ENTRY_PREFIX = "qga.entry.";

  private Addresses() {
  }

  public static String publicAddress(String suffix) {
    return PUBLIC_PREFIX + suffix;
  }

  /**
   * This member's own consumer of a public address (a local consumer, not known to the
   * cluster). HTTP dispatches there: the public address round-robins over every member, and a
   * member that died without leaving would swallow requests until Hazelcast notices.
   */
  public static String local(String publicAddress) {
    return LOCAL_PREFIX + publicAddress;
  }

  /**
   * A member's entry for JVM callers (cluster-wide, one consumer on that member): requests sent
   * there are dispatched by that member, whichever guest they are for.
   */
  public static String entry(String nodeId) {
    return ENTRY_PREFIX + nodeId;
  }

  /**
   * The internal address of a guest's link. It names the node, so a guest name held by two
   * members never round-robins between them, and it is outside {@code agent.*}, so neither the
   * bridge nor HTTP can reach it.
   */
  public static String link(String nodeId, String guest) {
    return LINK_PREFIX + nodeId + "." + guest;
  }
}
