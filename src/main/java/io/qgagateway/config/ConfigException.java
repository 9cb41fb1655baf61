package io.qgagateway.config;

/** A configuration value that can't be used; the message starts with the key's full path. */
public final class ConfigException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  public ConfigException(String message) {
    super(message);
  }
}
