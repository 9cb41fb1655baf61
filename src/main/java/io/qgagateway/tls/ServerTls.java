package io.qgagateway.tls;

import io.qgagateway.config.TlsConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.ServerSSLOptions;

import java.util.function.Function;

/**
 * The TLS of one listener (HTTP or the bridge): its files read and checked before it listens,
 * then re-read every {@code reloadIntervalMs}. A change that passes the checks is swapped into
 * the running server ({@code updateSSLOptions}): new connections get it, open ones keep theirs.
 * A change that does not is logged once (the key and the reason, nothing secret) and the
 * certificate in use stays.
 */
public final class ServerTls {

  private static final Logger log = LoggerFactory.getLogger(ServerTls.class);

  private final Vertx vertx;
  private final TlsConfig config;
  private TlsMaterial current;
  private long timer = -1;
  private boolean checking;
  private String lastProblem;

  private ServerTls(Vertx vertx, TlsConfig config, TlsMaterial current) {
    this.vertx = vertx;
    this.config = config;
    this.current = current;
  }

  /**
   * Reads and checks the files on a worker; fails with a
   * {@link io.qgagateway.config.ConfigException} naming the key of a missing or bad file.
   * Null when {@code config} is (a plain listener).
   */
  public static Future<ServerTls> load(Vertx vertx, TlsConfig config) {
    if (config == null) {
      return Future.succeededFuture();
    }
    return vertx.executeBlocking(() -> new ServerTls(vertx, config, TlsMaterial.read(config)),
        false);
  }

  public <T extends NetServerOptions> T applyTo(T options) {
    return current.applyTo(options);
  }

  /** Starts the checks; {@code update} is the server's {@code updateSSLOptions}. */
  public void watch(Function<ServerSSLOptions, Future<Boolean>> update) {
    log.info(config.path() + ": serving " + current.describe());
    timer = vertx.setPeriodic(config.reloadIntervalMs(), id -> check(update));
  }

  public void close() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
  }

  private void check(Function<ServerSSLOptions, Future<Boolean>> update) {
    if (checking) {
      return;
    }
    checking = true;
    vertx.executeBlocking(() -> TlsMaterial.read(config), false)
        // closed meanwhile (the verticle stopped): nothing to swap into
        .compose(next -> timer < 0 || next.sameFilesAs(current) ? Future.succeededFuture()
            : update.apply(next.serverOptions()).map(v -> {
              current = next;
              log.info(config.path() + ": certificate files changed, new connections get "
                  + next.describe());
              return null;
            }))
        .onComplete(ar -> {
          checking = false;
          if (ar.succeeded()) {
            lastProblem = null;
            return;
          }
          String problem = String.valueOf(ar.cause().getMessage());
          if (!problem.equals(lastProblem)) {
            lastProblem = problem;
            log.error(config.path() + ": not reloaded, the certificate in use stays: " + problem);
          }
        });
  }
}
