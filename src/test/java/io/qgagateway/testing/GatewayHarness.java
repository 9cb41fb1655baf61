package io.qgagateway.testing;

import io.micrometer.core.instrument.MeterRegistry;
import io.qgagateway.Gateway;
import io.qgagateway.api.Addresses;
import io.qgagateway.config.GatewayConfig;
import io.qgagateway.http.Health;
import io.qgagateway.libvirt.Hypervisor;
import io.qgagateway.link.AgentChannel;
import io.qgagateway.link.GuestLink;
import io.qgagateway.link.LinkState;
import io.qgagateway.link.LinkVerticle;
import io.qgagateway.sim.SimulatedAgent;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A gateway on a test's Vert.x with simulated agents on Unix sockets in a temporary directory,
 * and blocking helpers for the test thread. Events of {@code agent.events} are recorded from
 * before the gateway starts.
 */
public final class GatewayHarness {

  public static final Duration WAIT = Duration.ofSeconds(20);

  public final Vertx vertx;
  public final Path dir;
  public final Map<String, SimulatedAgent> agents = new LinkedHashMap<>();
  public final List<JsonObject> events = new CopyOnWriteArrayList<>();
  private final MessageConsumer<JsonObject> eventConsumer;
  public Gateway gateway;

  public GatewayHarness(Vertx vertx, Path dir) {
    this.vertx = vertx;
    this.dir = dir;
    this.eventConsumer = vertx.eventBus().consumer(Addresses.EVENTS, m -> events.add(m.body()));
    await(eventConsumer.completion());
  }

  /** Starts a simulated agent for guest {@code name} listening on {@code dir/name.sock}. */
  public SimulatedAgent agent(String name, SimulatedAgent.Options options) {
    SimulatedAgent agent = new SimulatedAgent(vertx, name, options);
    await(agent.listenUnix(socket(name).toString()));
    agents.put(name, agent);
    return agent;
  }

  public Path socket(String name) {
    return dir.resolve(name + ".sock");
  }

  /** A minimal valid configuration: HTTP off, the given guests on their sockets. */
  public JsonObject config(String... guests) {
    JsonArray list = new JsonArray();
    for (String g : guests) {
      list.add(new JsonObject().put("name", g).put("socket", socket(g).toString()));
    }
    return new JsonObject()
        .put("node", new JsonObject().put("name", "test-node"))
        .put("guests", list)
        .put("http", new JsonObject().put("enabled", false))
        .put("shutdown", new JsonObject().put("drainMs", 1000))
        // a libvirtd on the test machine must not add its domains to unit tests
        .put("libvirt", new JsonObject().put("enabled", false));
  }

  public Gateway start(JsonObject config, MeterRegistry registry) {
    gateway = await(Gateway.start(vertx, GatewayConfig.parse(config), registry, new Health(false)));
    return gateway;
  }

  /** A gateway whose libvirt backend talks to {@code hypervisor} (a fake, in unit tests). */
  public Gateway start(JsonObject config, MeterRegistry registry, Hypervisor hypervisor) {
    gateway = await(Gateway.start(vertx, GatewayConfig.parse(config), registry, new Health(false),
        hypervisor));
    return gateway;
  }

  public AgentChannel link(String guest) {
    LinkVerticle v = gateway.fleet().local().get(guest);
    return v == null ? null : v.link();
  }

  /** Waits until the guest's link is in sync and has the agent's guest-info. */
  public void awaitReady(String... guests) {
    for (String g : guests) {
      waitFor("guest " + g + " ready", () -> {
        AgentChannel l = link(g);
        return l != null && l.state() == LinkState.READY && l.agentInfo() != null;
      });
    }
  }

  public Future<JsonObject> request(String suffix, Object body) {
    return request(suffix, body, new DeliveryOptions());
  }

  public Future<JsonObject> request(String suffix, Object body, DeliveryOptions options) {
    return vertx.eventBus().<JsonObject>request(Addresses.publicAddress(suffix), body,
        options.setSendTimeout(60_000)).map(Message::body);
  }

  /** The reply of a request that must succeed. */
  public JsonObject call(String suffix, Object body) {
    return await(request(suffix, body));
  }

  /** The failure of a request that must fail. */
  public ReplyException failure(String suffix, Object body) {
    return failureOf(request(suffix, body));
  }

  public static ReplyException failureOf(Future<?> future) {
    try {
      Object result = future.toCompletionStage().toCompletableFuture()
          .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      return fail("expected a failure, got " + result);
    } catch (ExecutionException e) {
      return assertInstanceOf(ReplyException.class, e.getCause());
    } catch (InterruptedException | TimeoutException e) {
      return fail("no reply within " + WAIT, e);
    }
  }

  public static <T> T await(Future<T> future) {
    try {
      return future.toCompletionStage().toCompletableFuture()
          .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      return fail("failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException | TimeoutException e) {
      return fail("not done within " + WAIT, e);
    }
  }

  public static void waitFor(String what, BooleanSupplier condition) {
    waitFor(what, condition, WAIT);
  }

  public static void waitFor(String what, BooleanSupplier condition, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out waiting for: " + what);
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        fail("interrupted waiting for " + what);
      }
    }
  }

  /** Every command the agent received, by name, oldest first (the link's syncs included). */
  public List<String> received(String guest) {
    return agents.get(guest).received().stream()
        .map(r -> String.valueOf(r.getValue("execute")))
        .collect(Collectors.toCollection(ArrayList::new));
  }

  public List<String> eventTypes(String guest) {
    return events.stream().filter(e -> guest.equals(e.getString("guest")))
        .map(e -> e.getString("type")).collect(Collectors.toList());
  }

  /** Stops the gateway (if started) and the agents. */
  public void close() {
    if (gateway != null) {
      Gateway g = gateway;
      gateway = null;
      await(g.stop());
    }
    for (SimulatedAgent a : agents.values()) {
      await(a.close());
    }
    await(eventConsumer.unregister());
  }

  /**
   * Simulated agents named {@code names} on Unix sockets in {@code dir}, put in
   * {@code agents}; returns the {@code guests} configuration that names them.
   */
  public static JsonArray simulatedGuests(Vertx vertx, Path dir,
                                          Map<String, SimulatedAgent> agents, String... names)
      throws Exception {
    JsonArray guests = new JsonArray();
    for (String guest : names) {
      String socket = dir.resolve(guest + ".sock").toString();
      SimulatedAgent agent = new SimulatedAgent(vertx, guest);
      agent.listenUnix(socket).await(10, TimeUnit.SECONDS);
      agents.put(guest, agent);
      guests.add(new JsonObject().put("name", guest).put("socket", socket));
    }
    return guests;
  }

  public static JsonObject body(String guest) {
    return new JsonObject().put("guest", guest);
  }
}
