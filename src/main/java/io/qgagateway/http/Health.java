package io.qgagateway.http;

import io.vertx.core.json.JsonObject;

import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * What {@code /health/ready} reports: ready once the configuration is loaded, HTTP listens and,
 * when clustered, the cluster is joined with at least {@code cluster.minPeers} other gateways;
 * not ready again while draining for shutdown, or while authentication refuses every caller
 * (no credentials on a non-loopback address, the token file missing): then {@code auth} says why.
 */
public final class Health {

  private final boolean clustered;
  private volatile boolean configLoaded;
  private volatile boolean httpUp;
  private volatile boolean clusterJoined;
  private volatile boolean draining;
  private volatile IntSupplier peers = () -> 0;
  private volatile int minPeers;
  private volatile Supplier<String> authProblem = () -> null;

  public Health(boolean clustered) {
    this.clustered = clustered;
  }

  public void configLoaded() {
    configLoaded = true;
  }

  public void httpUp() {
    httpUp = true;
  }

  public void clusterJoined() {
    clusterJoined = true;
  }

  /**
   * Readiness also needs at least {@code minPeers} other gateway members in the cluster, so a
   * member that found nobody (a rollout racing discovery) does not take traffic as a cluster of
   * its own.
   */
  public void peers(IntSupplier livePeers, int minPeers) {
    this.peers = livePeers;
    this.minPeers = minPeers;
  }

  /** What makes every API request refused now (null when nothing): readiness reports it. */
  public void auth(Supplier<String> problem) {
    this.authProblem = problem;
  }

  public void draining() {
    draining = true;
  }

  public boolean ready() {
    return configLoaded && httpUp && (!clustered || clusterJoined && enoughPeers()) && !draining
        && authProblem.get() == null;
  }

  private boolean enoughPeers() {
    return minPeers == 0 || peers.getAsInt() >= minPeers;
  }

  public JsonObject readiness() {
    JsonObject checks = new JsonObject()
        .put("config", configLoaded ? "UP" : "DOWN")
        .put("http", httpUp ? "UP" : "DOWN")
        .put("cluster", !clustered ? "NOT_CLUSTERED" : clusterJoined && enoughPeers() ? "UP"
            : "DOWN")
        .put("shutdown", draining ? "DRAINING" : "NO");
    String auth = authProblem.get();
    checks.put("auth", auth == null ? "UP" : auth);
    if (clustered) {
      checks.put("peers", peers.getAsInt()).put("minPeers", minPeers);
    }
    return new JsonObject().put("status", ready() ? "UP" : "DOWN").put("checks", checks);
  }
}
