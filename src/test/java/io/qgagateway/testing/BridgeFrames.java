package io.qgagateway.testing;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetSocket;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/** The TCP bridge's framing (4-byte big-endian length + JSON) for test clients. */
public final class BridgeFrames {

  private BridgeFrames() {
  }

  /** Reads the socket's frames into a queue, from now on (the handler runs on its loop). */
  public static BlockingQueue<JsonObject> reader(NetSocket socket) {
    BlockingQueue<JsonObject> frames = new LinkedBlockingQueue<>();
    Buffer[] pending = {Buffer.buffer()};
    socket.handler(data -> {
      pending[0].appendBuffer(data);
      while (pending[0].length() >= 4 && pending[0].length() >= 4 + pending[0].getInt(0)) {
        int length = pending[0].getInt(0);
        frames.add(new JsonObject(pending[0].getString(4, 4 + length, "UTF-8")));
        pending[0] = pending[0].getBuffer(4 + length, pending[0].length());
      }
    });
    return frames;
  }

  /** One frame as the bridge reads it. */
  public static Buffer frame(JsonObject json) {
    byte[] bytes = json.encode().getBytes(StandardCharsets.UTF_8);
    return Buffer.buffer().appendInt(bytes.length).appendBytes(bytes);
  }
}
