package io.qgagateway.testing;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * A raw HTTP/1.1 client for tests of request bodies: one request per connection, the body
 * written by another thread while this one reads the answer, as a client does that sends
 * without waiting. The answer may come before the body is sent; then the sending stops. Bodies
 * are produced on the fly, so a test can send 100 MB without holding it.
 */
public final class RawHttp {

  private RawHttp() {
  }

  /** Thrown by a {@link Body} to drop the connection at once, as a client that goes away. */
  public static final class Hangup extends IOException {
    private static final long serialVersionUID = 1L;

    public Hangup() {
      super("the client hung up");
    }
  }

  /** Writes a request body; {@code answered} turns true once the answer has arrived. */
  public interface Body {
    void write(OutputStream out, BooleanSupplier answered) throws IOException, InterruptedException;
  }

  /**
   * @param closed the gateway closed the connection after the answer
   * @param sent   bytes the client had written (headers included) when it stopped
   */
  public record Answer(String kind, int status, Map<String, String> headers, String body,
                       boolean closed, long sent) {

    public String retryAfter() {
      return headers.get("retry-after");
    }

    @Override
    public String toString() {
      return kind + ": " + status + (retryAfter() == null ? "" : " Retry-After " + retryAfter())
          + (closed ? " (closed)" : "") + " after " + sent + " bytes sent, " + body;
    }
  }

  /**
   * One request on a new connection to 127.0.0.1:{@code port}.
   *
   * @param chunked       send the body with chunked transfer coding (each write a chunk)
   * @param contentLength the Content-Length to declare when not chunked, -1 for none
   * @param headers       more headers, name then value
   */
  public static Answer exchange(ExecutorService pool, int port, String kind, String method,
                                String path, boolean chunked, long contentLength, Body body,
                                String... headers) throws Exception {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(120_000);
      StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\n"
          + "Host: 127.0.0.1:" + port + "\r\n");
      for (int i = 0; i + 1 < headers.length; i += 2) {
        head.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
      }
      if (chunked) {
        head.append("Transfer-Encoding: chunked\r\n");
      } else if (contentLength >= 0) {
        head.append("Content-Length: ").append(contentLength).append("\r\n");
      }
      head.append("\r\n");
      Counting counting = new Counting(socket.getOutputStream());
      OutputStream raw = new BufferedOutputStream(counting, 64 * 1024);
      raw.write(head.toString().getBytes(StandardCharsets.US_ASCII));
      raw.flush();
      AtomicBoolean answered = new AtomicBoolean();
      Future<?> sending = null;
      if (body != null) {
        sending = pool.submit(() -> {
          try {
            OutputStream out = chunked ? new Chunked(raw) : raw;
            body.write(out, answered::get);
            if (chunked) {
              out.close();
            }
            raw.flush();
          } catch (Hangup e) {
            socket.close();
          } catch (IOException e) {
            // the gateway answered and closed: expected for refusals
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return null;
        });
      }
      InputStream in = new BufferedInputStream(socket.getInputStream());
      Map<String, String> answerHeaders = new LinkedHashMap<>();
      int status;
      do {
        String statusLine = line(in);
        status = Integer.parseInt(statusLine.split(" ")[1]);
        answerHeaders.clear();
        for (String h = line(in); !h.isEmpty(); h = line(in)) {
          int colon = h.indexOf(':');
          answerHeaders.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT),
              h.substring(colon + 1).trim());
        }
      } while (status == 100);
      int length = Integer.parseInt(answerHeaders.getOrDefault("content-length", "0"));
      byte[] content = in.readNBytes(length);
      answered.set(true);
      long sent = counting.count.get();
      boolean closed = "close".equalsIgnoreCase(answerHeaders.get("connection"));
      if (closed) {
        // the gateway closes: a further read sees the end (or a reset)
        try {
          closed = in.read() == -1;
        } catch (IOException reset) {
          closed = true;
        }
      }
      socket.close();
      if (sending != null) {
        try {
          sending.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
          // a writer cut off by the close
        }
      }
      return new Answer(kind, status, answerHeaders, new String(content, StandardCharsets.UTF_8),
          closed, sent);
    }
  }

  /** {@code bytes} of 'x'. */
  public static Body filler(long bytes) {
    return (out, answered) -> {
      byte[] block = new byte[64 * 1024];
      java.util.Arrays.fill(block, (byte) 'x');
      for (long left = bytes; left > 0 && !answered.getAsBoolean(); left -= block.length) {
        out.write(block, 0, (int) Math.min(block.length, left));
      }
    };
  }

  /** The given bytes. */
  public static Body bytes(byte[] content) {
    return (out, answered) -> out.write(content);
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    for (int b = in.read(); b != '\n'; b = in.read()) {
      if (b == -1) {
        throw new IOException("connection closed before the answer (" + line.size()
            + " bytes of a line read)");
      }
      if (b != '\r') {
        line.write(b);
      }
    }
    return line.toString(StandardCharsets.US_ASCII);
  }

  /** Chunked transfer coding: each write one chunk, close the last chunk. */
  private static final class Chunked extends FilterOutputStream {
    Chunked(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return;
      }
      out.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.US_ASCII));
      out.write(b, off, len);
      out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
    }

    @Override
    public void close() throws IOException {
      out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
    }
  }

  private static final class Counting extends FilterOutputStream {
    final AtomicLong count = new AtomicLong();

    Counting(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count.addAndGet(len);
    }
  }
}
