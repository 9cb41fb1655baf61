package io.qgagateway.auth;

import io.qgagateway.config.AuthConfig;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Token buckets per principal and class ({@code auth.rateLimits}), on the member that holds the
 * guests: a principal gets each class's rate on each member. Limits may change at run time; a
 * bucket keeps what it had (capped at the new burst).
 */
public final class RateLimiter {

  private static final class Bucket {
    double tokens;
    long refilledNanos;

    Bucket(double tokens, long now) {
      this.tokens = tokens;
      this.refilledNanos = now;
    }
  }

  private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

  /**
   * Takes one token for a request of {@code cls} at {@code rate}: 0 when it may go, else the
   * seconds until a token is there (at least 1, for Retry-After).
   */
  public long take(Principal principal, CommandClass cls, AuthConfig.Rate rate) {
    long now = System.nanoTime();
    double perNano = rate.perMinute() / 60e9;
    long[] wait = {0};
    buckets.compute(principal.name() + '\0' + cls.label(), (key, b) -> {
      Bucket bucket = b == null ? new Bucket(rate.burst(), now) : b;
      bucket.tokens = Math.min(rate.burst(),
          bucket.tokens + (now - bucket.refilledNanos) * perNano);
      bucket.refilledNanos = now;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
      } else {
        wait[0] = Math.max(1, (long) Math.ceil((1 - bucket.tokens) / perNano / 1e9));
      }
      return bucket;
    });
    return wait[0];
  }
}
