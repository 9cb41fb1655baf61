package io.qgagateway.libvirt;

import java.util.Locale;

/**
 * The {@code libvirt:} section of the configuration (docs/CONFIGURATION.md).
 *
 * @param enabled       {@code auto}: use libvirt when its daemon is there; {@code true}: always
 *                      (and keep retrying until the daemon answers); {@code false}: never
 * @param uri           the connection, e.g. {@code qemu:///system}
 * @param workers       threads that make libvirt's blocking calls, shared by all domains; each
 *                      domain makes one call at a time
 * @param connections   connections to libvirtd the calls are spread over (libvirtd serves at
 *                      most 5 calls of one connection at a time by default); events have one
 *                      more
 * @param keepStoppedMs how long a domain that shut off stays listed (as disconnected, with the
 *                      reason) before it is forgotten; 0 forgets it at once
 */
public record LibvirtOptions(Mode enabled, String uri, int workers, int connections,
                             long keepStoppedMs) {

  public static final String DEFAULT_URI = "qemu:///system";
  public static final int DEFAULT_WORKERS = 16;
  public static final int DEFAULT_CONNECTIONS = 4;
  public static final long DEFAULT_KEEP_STOPPED_MS = 300_000;

  public static final LibvirtOptions DEFAULTS = new LibvirtOptions(Mode.AUTO, DEFAULT_URI,
      DEFAULT_WORKERS, DEFAULT_CONNECTIONS, DEFAULT_KEEP_STOPPED_MS);

  public enum Mode {
    AUTO, TRUE, FALSE;

    public static Mode parse(String value) {
      return switch (value.toLowerCase(Locale.ROOT)) {
        case "auto" -> AUTO;
        case "true" -> TRUE;
        case "false" -> FALSE;
        default -> throw new IllegalArgumentException("expected auto, true or false, got '"
            + value + "'");
      };
    }
  }

  public LibvirtOptions {
    if (uri == null || uri.isBlank()) {
      throw new IllegalArgumentException("libvirt.uri must not be empty");
    }
    if (workers < 1 || connections < 1 || keepStoppedMs < 0) {
      throw new IllegalArgumentException("libvirt.workers and libvirt.connections must be at "
          + "least 1, libvirt.keepStoppedMs not negative");
    }
  }
}
