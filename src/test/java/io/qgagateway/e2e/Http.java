package io.qgagateway.e2e;

import io.vertx.core.Context;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;

import java.util.concurrent.TimeUnit;

/** A blocking HTTP/1.1 client on Vert.x core's HttpClient, for tests on the test thread. */
final class Http implements AutoCloseable {

  record Response(int status, MultiMap headers, String body) {
    JsonObject json() {
      return new JsonObject(body);
    }
  }

  private final HttpClient client;
  private final int port;
  private final Context context;

  Http(Vertx vertx, int port) {
    this.client = vertx.createHttpClient();
    this.port = port;
    this.context = vertx.getOrCreateContext();
  }

  Response get(String path, String... headers) throws Exception {
    return send(HttpMethod.GET, path, null, headers);
  }

  Response post(String path, String body, String... headers) throws Exception {
    return send(HttpMethod.POST, path, body, headers);
  }

  /** {@code headers} are name, value pairs. */
  Response send(HttpMethod method, String path, String body, String... headers) throws Exception {
    RequestOptions options = new RequestOptions().setMethod(method).setHost("127.0.0.1")
        .setPort(port).setURI(path);
    for (int i = 0; i + 1 < headers.length; i += 2) {
      options.addHeader(headers[i], headers[i + 1]);
    }
    // chained on the client's event loop: from the test thread, a response could deliver its
    // body before the body handler is set
    Promise<Response> done = Promise.promise();
    context.runOnContext(v -> client.request(options)
        .compose(request -> body == null ? request.send() : request.send(Buffer.buffer(body)))
        .compose((HttpClientResponse response) -> response.body()
            .map(b -> new Response(response.statusCode(), response.headers(), b.toString())))
        .onComplete(done));
    return done.future().await(30, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws Exception {
    client.close().await(10, TimeUnit.SECONDS);
  }
}
