package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.qgagateway.api.GatewayFailure;
import io.qgagateway.auth.CommandClass;
import io.qgagateway.auth.Principal;
import io.qgagateway.config.AuthConfig;
import io.qgagateway.metrics.GatewayMetrics;
import io.vertx.core.eventbus.ReplyException;

import java.util.Optional;

/**
 * Whether a principal may send a request to a guest, decided on the member that holds the guest:
 * the ceiling ({@code policy}, for everyone), then the grants for each class the request needs,
 * then the rate limits of those classes. A refusal is counted in
 * {@code qga_denied_total{reason, principal}} and nothing is sent.
 */
final class Authorization {

  private Authorization() {
  }

  /** The refusal, if any; {@code principal} null stands for a header that was not one. */
  static Optional<ReplyException> check(CommandRules rules, GatewayMetrics metrics,
                                        Principal principal, RequestBody request) {
    if (principal == null) {
      metrics.denied(GatewayMetrics.Denial.INVALID_PRINCIPAL, null);
      return Optional.of(Failures.of(Codes.FORBIDDEN, "the " + Principal.HEADER
          + " header is not a principal"));
    }
    Optional<ReplyException> forbidden = rules.policy().check(request);
    if (forbidden.isPresent()) {
      metrics.denied(GatewayMetrics.Denial.POLICY, principal.name());
      return forbidden;
    }
    if (request.guest() == null) {
      return Optional.empty();
    }
    for (CommandClass cls : request.classes()) {
      Optional<String> denial = rules.access().denial(principal, cls, request.guest());
      if (denial.isPresent()) {
        metrics.denied(GatewayMetrics.Denial.NOT_GRANTED, principal.name());
        return Optional.of(Failures.of(Codes.FORBIDDEN, denial.get()));
      }
    }
    for (CommandClass cls : request.classes()) {
      AuthConfig.Rate rate = rules.access().rateLimit(cls);
      long waitSeconds = rate == null ? 0 : rules.limiter().take(principal, cls, rate);
      if (waitSeconds > 0) {
        metrics.denied(GatewayMetrics.Denial.RATE_LIMITED, principal.name());
        return Optional.of(new GatewayFailure(Codes.BUSY, null, "principal " + principal.name()
            + " is over its rate limit for class " + cls.label() + " (" + rate.perMinute()
            + "/min, burst " + rate.burst() + "; auth.rateLimits); retry in " + waitSeconds
            + " s", waitSeconds));
      }
    }
    return Optional.empty();
  }
}
