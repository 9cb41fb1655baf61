package io.qgagateway.sim;

import io.qgagateway.config.GatewayConfig;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Runs N simulated agents on Unix sockets {@code DIR/<prefix><i>.sock}, e.g. for demos and
 * benchmarks:
 * {@code java -cp qga-gateway.jar io.qgagateway.sim.SimulatorMain --guests N --dir DIR
 * [--prefix sim-] [--block guest-exec,...]}.
 * Prints {@code listening <name> <path>} per agent as it becomes ready, then {@code ready N}.
 * Runs until killed.
 */
public final class SimulatorMain {

  /** Binds this many sockets at a time so ten thousand guests start without a burst of fds. */
  private static final int PARALLEL_LISTENS = 128;

  private SimulatorMain() {
  }

  public static void main(String[] args) throws IOException {
    int guests = 1;
    Path dir = null;
    String prefix = "sim-";
    Set<String> blocked = Set.of();
    for (int i = 0; i < args.length; i++) {
      String value = i + 1 < args.length ? args[i + 1] : null;
      switch (args[i]) {
        case "--guests" -> guests = Integer.parseInt(require(args[i], value));
        case "--dir" -> dir = Path.of(require(args[i], value));
        case "--prefix" -> prefix = require(args[i], value);
        case "--block" -> blocked = Set.of(require(args[i], value).split(","));
        default -> usage("unknown option " + args[i]);
      }
      i++;
    }
    if (dir == null || guests < 1) {
      usage("--dir and a positive --guests are required");
    }
    Files.createDirectories(dir);
    SimulatedAgent.Options options = SimulatedAgent.Options.DEFAULTS
        .withBlocked(blocked.toArray(String[]::new)).withHistoryLimit(0);
    // the gateway's transport choice (-Dqga.transport, default auto), as cheap as it gets
    Vertx vertx = new GatewayConfig.VertxSettings(System.getProperty("qga.transport", "auto"), 0)
        .applyTo(Vertx.builder(), new VertxOptions()).build();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> vertx.close().await()));
    List<SimulatedAgent> agents = new ArrayList<>(guests);
    Starter starter = new Starter(dir, prefix, guests, options, vertx, agents);
    starter.start().onComplete(ar -> {
      if (ar.succeeded()) {
        System.out.println("ready " + agents.size());
      } else {
        System.err.println("failed: " + ar.cause().getMessage());
        vertx.close().onComplete(v -> System.exit(1));
      }
    });
  }

  /** Starts agents with at most {@link #PARALLEL_LISTENS} binds in flight. */
  private static final class Starter {
    private final Path dir;
    private final String prefix;
    private final int total;
    private final SimulatedAgent.Options options;
    private final Vertx vertx;
    // keeps every agent (and so its server) reachable for the life of the process
    private final List<SimulatedAgent> agents;
    private final Promise<Void> done = Promise.promise();
    private int next;
    private int ready;

    Starter(Path dir, String prefix, int total, SimulatedAgent.Options options, Vertx vertx,
            List<SimulatedAgent> agents) {
      this.dir = dir;
      this.prefix = prefix;
      this.total = total;
      this.options = options;
      this.vertx = vertx;
      this.agents = agents;
    }

    synchronized Future<Void> start() {
      for (int i = 0; i < Math.min(PARALLEL_LISTENS, total); i++) {
        startNext();
      }
      return done.future();
    }

    private synchronized void startNext() {
      if (next >= total || done.future().isComplete()) {
        return;
      }
      String name = prefix + next++;
      Path socket = dir.resolve(name + ".sock");
      try {
        // a socket file left by an earlier run would fail the bind
        Files.deleteIfExists(socket);
      } catch (IOException e) {
        done.tryFail(e);
        return;
      }
      SimulatedAgent agent = new SimulatedAgent(vertx, name, options);
      agents.add(agent);
      agent.listenUnix(socket.toString()).onComplete(ar -> onListening(name, socket, ar.cause()));
    }

    private synchronized void onListening(String name, Path socket, Throwable failure) {
      if (failure != null) {
        done.tryFail(new IOException(socket + ": " + failure.getMessage(), failure));
        return;
      }
      System.out.println("listening " + name + " " + socket);
      if (++ready == total) {
        done.tryComplete();
      } else {
        startNext();
      }
    }
  }

  private static String require(String option, String value) {
    if (value == null) {
      usage(option + " needs a value");
    }
    return value;
  }

  private static void usage(String problem) {
    System.err.println(problem + "\nusage: SimulatorMain --guests N --dir DIR [--prefix sim-] "
        + "[--block guest-x,guest-y]");
    System.exit(2);
  }
}
