package io.qgagateway.bench;

import io.qgagateway.protocol.FrameDecoder;
import io.qgagateway.protocol.FrameError;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.Blackhole;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;

/**
 * JMH benchmark of {@link FrameDecoder}: one operation feeds a prepared stream of agent replies,
 * cut into socket-sized chunks, through a client's decoder. Run by {@link FrameDecoderJmhBench}.
 * Workloads: {@code ping} (1,000 {@code {"return": {}}} lines), {@code interfaces} (200
 * network-interface replies of about 1 KiB, each after a 0xFF-delimited sync return) and
 * {@code file} (one 1 MiB base64 {@code guest-file-read} reply).
 */
@State(Scope.Thread)
public class FrameDecoderBenchmark {

  @Param({"ping", "interfaces", "file"})
  public String workload;

  /** Bytes handed to the decoder per read, as a socket read would. */
  @Param({"8192"})
  public int chunk;

  private List<Buffer> chunks;
  private FrameDecoder decoder;
  private Blackhole blackhole;
  public int bytesPerOp;
  public int objectsPerOp;

  @Setup(Level.Trial)
  public void setUp(Blackhole bh) {
    blackhole = bh;
    Buffer stream = Buffer.buffer();
    switch (workload) {
      case "ping" -> {
        for (int i = 0; i < 1000; i++) {
          stream.appendString("{\"return\": {}}\n");
        }
        objectsPerOp = 1000;
      }
      case "interfaces" -> {
        String reply = new JsonObject().put("return", interfaces()).encode() + "\n";
        for (int i = 0; i < 200; i++) {
          stream.appendByte((byte) 0xFF).appendString("{\"return\": " + (1_000_000L + i) + "}\n");
          stream.appendString(reply);
        }
        objectsPerOp = 400;
      }
      case "file" -> {
        byte[] data = new byte[768 * 1024];
        new Random(1).nextBytes(data);
        stream.appendString(new JsonObject().put("return", new JsonObject().put("count", data.length)
            .put("buf-b64", Base64.getEncoder().encodeToString(data)).put("eof", false)).encode())
            .appendString("\n");
        objectsPerOp = 1;
      }
      default -> throw new IllegalArgumentException(workload);
    }
    bytesPerOp = stream.length();
    chunks = new ArrayList<>();
    for (int i = 0; i < stream.length(); i += chunk) {
      chunks.add(stream.getBuffer(i, Math.min(stream.length(), i + chunk)));
    }
    decoder = new FrameDecoder(16 * 1024 * 1024, new FrameDecoder.Listener() {
      @Override
      public void onObject(JsonObject object, int size) {
        blackhole.consume(object);
      }

      @Override
      public void onDelimiter() {
        blackhole.consume(1);
      }

      @Override
      public void onError(FrameError error, String detail) {
        throw new IllegalStateException(error + ": " + detail);
      }
    });
  }

  private static JsonArray interfaces() {
    JsonArray list = new JsonArray();
    for (int i = 0; i < 3; i++) {
      list.add(new JsonObject().put("name", "eth" + i).put("hardware-address", "52:54:00:12:34:5" + i)
          .put("ip-addresses", new JsonArray()
              .add(new JsonObject().put("ip-address", "10.0.0." + (10 + i))
                  .put("ip-address-type", "ipv4").put("prefix", 24))
              .add(new JsonObject().put("ip-address", "fe80::5054:ff:fe12:345" + i)
                  .put("ip-address-type", "ipv6").put("prefix", 64)))
          .put("statistics", new JsonObject().put("rx-bytes", 123456789L).put("rx-packets", 98765)
              .put("rx-errs", 0).put("rx-dropped", 0).put("tx-bytes", 23456789L)
              .put("tx-packets", 8765).put("tx-errs", 0).put("tx-dropped", 0)));
    }
    return list;
  }

  @Benchmark
  public void decode() {
    for (Buffer b : chunks) {
      decoder.feed(b);
    }
  }
}
