package io.qgagateway.fleet;

/**
 * Who this gateway is in the fleet: {@code id} routes (the cluster manager's node id when
 * clustered, a random one otherwise), {@code name} is for people (the host name by default).
 */
public record NodeIdentity(String id, String name) {
}
