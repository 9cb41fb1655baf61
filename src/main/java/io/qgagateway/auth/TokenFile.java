package io.qgagateway.auth;

import io.qgagateway.config.AuthConfig;
import io.vertx.config.ConfigRetriever;
import io.vertx.config.ConfigRetrieverOptions;
import io.vertx.config.ConfigStoreOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.logging.Logger;
import io.vertx.core.internal.logging.LoggerFactory;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Objects;

/**
 * {@code auth.tokensFile}: named tokens in a file ({@code tokens: [{name, hash, groups}]}, YAML
 * or JSON), typically a Kubernetes Secret's mount, re-read every {@code auth.reloadMs}, so a
 * token is added or revoked without restart. A missing file means no tokens (a deleted Secret
 * revokes them all); a file that does not parse keeps the last good list and says why.
 */
final class TokenFile {

  private static final Logger log = LoggerFactory.getLogger(TokenFile.class);

  private final Vertx vertx;
  private final String path;
  private final ApiTokens tokens;
  private final ConfigRetriever retriever;
  private long timer = -1;
  private JsonObject last;
  private volatile String problem;

  TokenFile(Vertx vertx, String path, ApiTokens tokens) {
    this.vertx = vertx;
    this.path = path;
    this.tokens = tokens;
    ConfigStoreOptions file = new ConfigStoreOptions().setType("file")
        .setFormat(path.endsWith(".json") ? "json" : "yaml")
        .setConfig(new JsonObject().put("path", path));
    this.retriever = ConfigRetriever.create(vertx, new ConfigRetrieverOptions().setScanPeriod(0)
        .addStore(file));
  }

  /** Reads the file now, then every {@code periodMs}. */
  Future<Void> start(long periodMs) {
    return read().onComplete(ar -> timer = vertx.setPeriodic(periodMs, id -> read()));
  }

  void close() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    retriever.close();
  }

  /** What is wrong with the file now, or null. */
  String problem() {
    return problem;
  }

  private Future<Void> read() {
    return vertx.fileSystem().exists(path).compose(exists -> {
      if (!exists) {
        tokens.fromFile(List.of());
        last = null;
        report("auth.tokensFile " + path + ": no such file, so no token from it is accepted");
        return Future.<Void>succeededFuture();
      }
      return retriever.getConfig().map(json -> {
        if (!json.equals(last)) {
          List<AuthConfig.Token> read = AuthConfig.tokenFile(json.copy());
          tokens.fromFile(read);
          last = json;
          log.info("auth.tokensFile " + path + ": " + read.size() + " tokens");
        }
        report(null);
        return (Void) null;
      });
    }).recover(e -> {
      report("auth.tokensFile " + path + ": " + e.getMessage() + "; keeping the last good list");
      return Future.succeededFuture();
    });
  }

  private void report(String now) {
    if (!Objects.equals(now, problem) && now != null) {
      log.error(now);
    }
    problem = now;
  }
}
