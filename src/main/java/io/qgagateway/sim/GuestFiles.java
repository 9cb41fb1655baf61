package io.qgagateway.sim;

import io.vertx.core.json.JsonObject;

import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

/** The guest's in-memory filesystem and the agent's open file handles. */
final class GuestFiles {

  /** qemu-ga caps one read at 48 MB. */
  static final long MAX_READ = 48L * 1024 * 1024;
  static final int DEFAULT_READ = 4096;

  private static final class Content {
    byte[] bytes = new byte[0];
    int length;

    void writeAt(int position, byte[] data, int count) {
      int end = position + count;
      if (end > bytes.length) {
        bytes = Arrays.copyOf(bytes, Math.max(end, bytes.length * 2));
      }
      System.arraycopy(data, 0, bytes, position, count);
      length = Math.max(length, end);
    }
  }

  private static final class Handle {
    final Content content;
    final boolean readable;
    final boolean writable;
    final boolean append;
    int position;

    Handle(Content content, boolean readable, boolean writable, boolean append) {
      this.content = content;
      this.readable = readable;
      this.writable = writable;
      this.append = append;
    }
  }

  private final Map<String, Content> files = new HashMap<>();
  private final Map<Long, Handle> handles = new HashMap<>();
  // qemu-ga hands out handles from a counter; starting high keeps them unlike small ints in tests
  private long nextHandle = 1000;

  GuestFiles(String hostName) {
    put("/etc/hostname", (hostName + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** Sets a file's content, e.g. for a test that reads it back through the agent. */
  void put(String path, byte[] data) {
    Content c = new Content();
    c.writeAt(0, data, data.length);
    files.put(path, c);
  }

  byte[] get(String path) {
    Content c = files.get(path);
    return c == null ? null : Arrays.copyOf(c.bytes, c.length);
  }

  long open(String path, String mode) {
    String m = mode.replace("b", "");
    boolean plus = m.endsWith("+");
    char kind = m.isEmpty() ? '?' : m.charAt(0);
    if (m.length() > 2 || (m.length() == 2 && !plus) || "rwa".indexOf(kind) < 0) {
      throw CommandError.generic("invalid file open mode '" + mode + "'");
    }
    Content content = files.get(path);
    if (kind == 'r' && content == null) {
      throw CommandError.generic("failed to open file '" + path + "' (mode: '" + mode
          + "'): No such file or directory");
    }
    if (content == null || kind == 'w') {
      content = new Content();
      files.put(path, content);
    }
    Handle h = new Handle(content, kind == 'r' || plus, kind != 'r' || plus, kind == 'a');
    long id = nextHandle++;
    handles.put(id, h);
    return id;
  }

  void close(long handle) {
    if (handles.remove(handle) == null) {
      throw notFound(handle);
    }
  }

  void flush(long handle) {
    handle(handle);
  }

  JsonObject read(long handle, long count) {
    Handle h = handle(handle);
    if (count < 0 || count > MAX_READ) {
      throw CommandError.generic("value '" + count + "' is invalid for argument count");
    }
    if (!h.readable) {
      throw CommandError.generic("failed to read file: Bad file descriptor");
    }
    int n = (int) Math.min(count, Math.max(0, h.content.length - h.position));
    byte[] data = Arrays.copyOfRange(h.content.bytes, h.position, h.position + n);
    h.position += n;
    // like fread + feof: a short read means the end was hit
    return new JsonObject().put("count", n)
        .put("buf-b64", Base64.getEncoder().encodeToString(data))
        .put("eof", n < count);
  }

  JsonObject write(long handle, String b64, Long count) {
    Handle h = handle(handle);
    byte[] data;
    try {
      data = Base64.getDecoder().decode(b64);
    } catch (IllegalArgumentException e) {
      throw CommandError.generic("Guest agent command failed, error was 'Invalid base64 data'");
    }
    long n = count == null ? data.length : count;
    if (n < 0 || n > data.length) {
      throw CommandError.generic("value '" + n + "' is invalid for argument count");
    }
    if (!h.writable) {
      throw CommandError.generic("failed to write to file: Bad file descriptor");
    }
    if (h.append) {
      h.position = h.content.length;
    }
    h.content.writeAt(h.position, data, (int) n);
    h.position += (int) n;
    return new JsonObject().put("count", n).put("eof", false);
  }

  JsonObject seek(long handle, long offset, Object whence) {
    Handle h = handle(handle);
    long base;
    if (whence instanceof Number n) {
      base = switch (n.intValue()) {
        case 0 -> 0;
        case 1 -> h.position;
        case 2 -> h.content.length;
        default -> throw CommandError.generic("invalid whence code " + n);
      };
    } else if (whence instanceof String s) {
      base = switch (s) {
        case "set" -> 0;
        case "cur" -> h.position;
        case "end" -> h.content.length;
        default -> throw CommandError.generic("Parameter 'whence' does not accept value '" + s + "'");
      };
    } else {
      throw CommandError.generic("Invalid parameter type for 'whence', expected: QGASeek");
    }
    long position = base + offset;
    if (position < 0 || position > Integer.MAX_VALUE) {
      throw CommandError.generic("failed to seek file: Invalid argument");
    }
    h.position = (int) position;
    return new JsonObject().put("position", position).put("eof", false);
  }

  private Handle handle(long id) {
    Handle h = handles.get(id);
    if (h == null) {
      throw notFound(id);
    }
    return h;
  }

  private static CommandError notFound(long id) {
    return CommandError.generic("handle '" + id + "' has not been found");
  }
}
