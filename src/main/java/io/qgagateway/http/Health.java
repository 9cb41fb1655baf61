package io.qgagateway.http;

import io.vertx.core.json.JsonObject;

/**
 * What {@code /health/ready} reports: ready once the configuration is loaded, HTTP listens and,
 * when clustered, the cluster is joined; not ready again while draining for shutdown.
 */
public final class Health {

  private final boolean clustered;
  private volatile boolean configLoaded;
  private volatile boolean httpUp;
  private volatile boolean clusterJoined;
  private volatile boolean draining;

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

  public void draining() {
    draining = true;
  }

  public boolean ready() {
    return configLoaded && httpUp && (!clustered || clusterJoined) && !draining;
  }

  public JsonObject readiness() {
    JsonObject checks = new JsonObject()
        .put("config", configLoaded ? "UP" : "DOWN")
        .put("http", httpUp ? "UP" : "DOWN")
        .put("cluster", !clustered ? "NOT_CLUSTERED" : clusterJoined ? "UP" : "DOWN")
        .put("shutdown", draining ? "DRAINING" : "NO");
    return new JsonObject().put("status", ready() ? "UP" : "DOWN").put("checks", checks);
  }
}
