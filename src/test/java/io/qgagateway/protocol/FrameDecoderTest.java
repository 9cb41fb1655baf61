package io.qgagateway.protocol;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FrameDecoderTest {

  private static final String DELIM = "delim";
  private static final String GARBAGE = "error:GARBAGE";
  private static final String OVERSIZED = "error:OVERSIZED";

  /** Records the decoder's events as strings, objects by their canonical encoding. */
  private static final class Events implements FrameDecoder.Listener {
    final List<String> list = new ArrayList<>();

    @Override
    public void onObject(JsonObject object, int size) {
      list.add(obj(object));
    }

    @Override
    public void onDelimiter() {
      list.add(DELIM);
    }

    @Override
    public void onError(FrameError error, String detail) {
      list.add("error:" + error);
    }
  }

  private static String obj(JsonObject o) {
    return "obj:" + o.encode();
  }

  private static String obj(String json) {
    return obj(new JsonObject(json));
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private static List<String> decode(int max, FrameDecoder.Recovery recovery, byte[]... chunks) {
    Events events = new Events();
    FrameDecoder decoder = new FrameDecoder(max, recovery, events);
    for (byte[] c : chunks) {
      decoder.feed(Buffer.buffer(c));
    }
    return events.list;
  }

  private static List<String> decode(byte[]... chunks) {
    return decode(1 << 20, FrameDecoder.Recovery.AT_DELIMITER, chunks);
  }

  /** Every way to cut {@code stream} in two, and one byte per chunk. */
  private static void assertSameForEverySplit(byte[] stream, List<String> expected) {
    for (int cut = 0; cut <= stream.length; cut++) {
      byte[] a = java.util.Arrays.copyOfRange(stream, 0, cut);
      byte[] b = java.util.Arrays.copyOfRange(stream, cut, stream.length);
      assertEquals(expected, decode(a, b), "split at " + cut);
    }
    byte[][] single = new byte[stream.length][];
    for (int i = 0; i < stream.length; i++) {
      single[i] = new byte[] {stream[i]};
    }
    assertEquals(expected, decode(single), "one byte per chunk");
  }

  @Test
  void objectsSplitAtEveryByteBoundary() {
    String a = "{\"return\": {\"host-name\": \"vm-1\"}, \"id\": 7}";
    String b = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}";
    String c = "{\"return\":[1,2,3]}";
    byte[] stream = bytes(a + "\n" + b + "\r\n\t " + c);
    assertSameForEverySplit(stream, List.of(obj(a), obj(b), obj(c)));
  }

  @Test
  void multiByteUtf8SplitAcrossChunks() {
    // 2-, 3- and 4-byte characters, also next to quotes and escapes
    String text = "caf\u00e9 \u20ac \ud83d\ude00 \\\"\u00e9\\\"\ud83d\ude00";
    String json = "{\"return\":\"" + text + "\"}";
    byte[] stream = bytes(json);
    assertSameForEverySplit(stream, List.of(obj(json)));
    JsonObject decoded = new JsonObject(json);
    assertEquals("caf\u00e9 \u20ac \ud83d\ude00 \"\u00e9\"\ud83d\ude00", decoded.getString("return"));
  }

  @Test
  void delimiterAtEveryPositionOfAStream() {
    // flat objects: the tail of one cut by 0xFF is never itself an object
    String[] objects = {"{\"return\":12}", "{\"return\":\"a}b\"}", "{\"error\":null}"};
    String joined = String.join("\n", objects);
    byte[] stream = bytes(joined);
    List<Integer> starts = new ArrayList<>();
    List<Integer> ends = new ArrayList<>();
    int pos = 0;
    for (String o : objects) {
      starts.add(pos);
      ends.add(pos + o.length());
      pos += o.length() + 1;
    }
    for (int p = 0; p <= stream.length; p++) {
      byte[] withFf = concat(java.util.Arrays.copyOfRange(stream, 0, p), new byte[] {(byte) 0xFF},
          java.util.Arrays.copyOfRange(stream, p, stream.length));
      List<String> expected = new ArrayList<>();
      boolean cutInside = false;
      boolean delimiterDone = false;
      for (int i = 0; i < objects.length; i++) {
        if (!delimiterDone && p <= starts.get(i)) {
          expected.add(DELIM);
          delimiterDone = true;
        }
        if (p > starts.get(i) && p < ends.get(i)) {
          // 0xFF inside: the object is lost, and its tail is garbage that lasts to the next 0xFF
          expected.add(GARBAGE);
          expected.add(DELIM);
          expected.add(GARBAGE);
          cutInside = true;
          delimiterDone = true;
          break;
        }
        expected.add(obj(objects[i]));
      }
      if (!delimiterDone && !cutInside) {
        expected.add(DELIM);
      }
      assertEquals(expected, decode(withFf), "0xFF at " + p);
    }
  }

  @Test
  void delimiterResetsAfterGarbage() {
    byte[] stream = concat(bytes("{\"return\":1} junk {\"return\":2}"), new byte[] {(byte) 0xFF},
        bytes("{\"return\":3}"));
    assertEquals(List.of(obj("{\"return\":1}"), GARBAGE, DELIM, obj("{\"return\":3}")),
        decode(stream));
  }

  @Test
  void agentSideRecoveryReadsTheNextObject() {
    byte[] stream = concat(bytes("xyz{\"execute\":\"a\"} abc def{\"execute\":bad}"
        + "{\"execute\":\"b\"}"), new byte[] {(byte) 0xFF}, bytes("{\"execute\":\"c\"}"));
    assertEquals(List.of(GARBAGE, obj("{\"execute\":\"a\"}"), GARBAGE, GARBAGE, GARBAGE,
            obj("{\"execute\":\"b\"}"), DELIM, obj("{\"execute\":\"c\"}")),
        decode(1 << 20, FrameDecoder.Recovery.AT_NEXT_OBJECT, stream));
  }

  @Test
  void agentSideDelimiterDropsAPartialObjectWithoutAnError() {
    byte[] stream = concat(bytes("{\"execute\":\"guest-ping\""), new byte[] {(byte) 0xFF},
        bytes("{\"execute\":\"b\"}"));
    assertEquals(List.of(DELIM, obj("{\"execute\":\"b\"}")),
        decode(1 << 20, FrameDecoder.Recovery.AT_NEXT_OBJECT, stream));
  }

  @Test
  void invalidUtf8IsGarbage() {
    byte[][] invalid = {
        {(byte) 0xC3, 0x28},                           // bad continuation
        {(byte) 0xC0, (byte) 0xAF},                    // overlong '/'
        {(byte) 0xED, (byte) 0xA0, (byte) 0x80},       // UTF-16 surrogate
        {(byte) 0xF0, (byte) 0x9F, (byte) 0x98},       // truncated 4-byte character
        {(byte) 0x80},                                 // lone continuation byte
    };
    for (byte[] bad : invalid) {
      byte[] stream = concat(bytes("{\"return\":\""), bad, bytes("\"}"), new byte[] {(byte) 0xFF},
          bytes("{\"return\":1}"));
      assertEquals(List.of(GARBAGE, DELIM, obj("{\"return\":1}")), decode(stream),
          "bytes " + java.util.HexFormat.of().formatHex(bad));
    }
  }

  @Test
  void oversizedObjectsAreDroppedUntilTheNextDelimiter() {
    int max = 64;
    String fits = "{\"return\":\"" + "x".repeat(max - 13) + "\"}";
    String tooBig = "{\"return\":\"" + "x".repeat(max - 12) + "\"}";
    assertEquals(max, fits.length());
    byte[] stream = concat(bytes(fits + tooBig + "{\"return\":2}"), new byte[] {(byte) 0xFF},
        bytes("{\"return\":3}"));
    List<String> expected = List.of(obj(fits), OVERSIZED, DELIM, obj("{\"return\":3}"));
    for (int cut = 0; cut <= stream.length; cut++) {
      List<String> got = decode(max, FrameDecoder.Recovery.AT_DELIMITER,
          java.util.Arrays.copyOfRange(stream, 0, cut),
          java.util.Arrays.copyOfRange(stream, cut, stream.length));
      assertEquals(expected, got, "split at " + cut);
    }
    // the agent side gives up on an oversized object the same way
    assertEquals(expected, decode(max, FrameDecoder.Recovery.AT_NEXT_OBJECT, stream));
  }

  @Test
  void discardingIsVisibleUntilTheDelimiter() {
    Events events = new Events();
    FrameDecoder decoder = new FrameDecoder(1024, events);
    decoder.feed(Buffer.buffer("?"));
    assertTrue(decoder.discarding());
    decoder.feed(Buffer.buffer("{\"return\":1}"));
    decoder.feed(Buffer.buffer(new byte[] {(byte) 0xFF}));
    assertFalse(decoder.discarding());
    assertEquals(List.of(GARBAGE, DELIM), events.list);
  }

  @Test
  void resetForgetsAPartialObject() {
    Events events = new Events();
    FrameDecoder decoder = new FrameDecoder(1024, events);
    decoder.feed(Buffer.buffer("{\"return\": {\"a\": \"}"));
    decoder.reset();
    decoder.feed(Buffer.buffer("{\"return\":5}"));
    assertEquals(List.of(obj("{\"return\":5}")), events.list);
  }

  @Test
  void bracesAndEscapedQuotesInsideStrings() {
    String json = "{\"return\":\"}{\\\"}\\\\\",\"t\":\"[[{\",\"u\":\"\\\\\\\"}\",\"v\":\"\\u007b\"}";
    JsonObject parsed = new JsonObject(json);
    assertEquals("}{\"}\\", parsed.getString("return"));
    assertEquals("\\\"}", parsed.getString("u"));
    assertEquals("{", parsed.getString("v"));
    assertSameForEverySplit(bytes(json + json), List.of(obj(json), obj(json)));
  }

  @Test
  void nestedArraysAndObjects() {
    String json = "{\"return\":[{\"b\":[1,2,{\"c\":{}}]},[],[[[\"]\"]]]],\"d\":{\"e\":[[]],\"f\":{\"g\":{}}}}";
    assertSameForEverySplit(bytes(json + " " + json), List.of(obj(json), obj(json)));
  }

  @Test
  void mismatchedBracketsAreGarbage() {
    byte[] stream = concat(bytes("{\"a\":[}]"), new byte[] {(byte) 0xFF}, bytes("{\"a\":1}"));
    assertEquals(List.of(GARBAGE, DELIM, obj("{\"a\":1}")), decode(stream));
  }
}
