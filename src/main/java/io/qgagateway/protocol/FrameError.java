package io.qgagateway.protocol;

/** What can be wrong with the agent's byte stream. */
public enum FrameError {
  /** Bytes that are not a well-formed UTF-8 JSON object. */
  GARBAGE,
  /** An object larger than the configured bound. */
  OVERSIZED
}
