package io.qgagateway.http;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bytes of request bodies that all HTTP requests in flight on this member may hold
 * together ({@code http.maxInFlightBodyBytes}). Bytes are charged as they arrive and given
 * back when the request that read them has been answered; a charge that would go over the
 * limit is refused whole, so the total never exceeds it. Thread-safe: charges and releases may
 * come from any event loop.
 */
public final class BodyBudget {

  private final long limit;
  private final AtomicLong used = new AtomicLong();

  public BodyBudget(long limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("limit must be positive: " + limit);
    }
    this.limit = limit;
  }

  public long limit() {
    return limit;
  }

  /** The bytes charged now. */
  public long used() {
    return used.get();
  }

  /** A new, empty lease on this budget for one request (or one chunk of a stream). */
  Lease lease() {
    return new Lease();
  }

  private boolean tryCharge(long bytes) {
    long current;
    do {
      current = used.get();
      if (current + bytes > limit) {
        return false;
      }
    } while (!used.compareAndSet(current, current + bytes));
    return true;
  }

  /**
   * What one request (or one chunk of a streamed upload) holds of the budget. It is released
   * once every holder has let go: the HTTP exchange (answered or closed) and, once the body
   * was handed on, the command that uses it. Not thread-safe: use it on the request's context.
   */
  final class Lease {

    private long charged;
    private int holders = 1;

    /** Charges {@code bytes} more, or returns false (and charges nothing) if they do not fit. */
    boolean charge(long bytes) {
      if (holders == 0) {
        return false;
      }
      if (!tryCharge(bytes)) {
        return false;
      }
      charged += bytes;
      return true;
    }

    long charged() {
      return charged;
    }

    /** One more holder, e.g. the command the body was handed to. */
    Lease hold() {
      if (holders > 0) {
        holders++;
      }
      return this;
    }

    /** One holder lets go (each exactly once); the last gives the bytes back. */
    void release() {
      if (holders == 0) {
        return;
      }
      if (--holders == 0) {
        used.addAndGet(-charged);
        charged = 0;
      }
    }
  }
}
