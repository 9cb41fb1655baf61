package io.qgagateway.commands;

import io.qgagateway.auth.CommandClass;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One address of the gateway: a guest-agent command or a gateway operation, with what the
 * gateway needs to know before sending it. Built in {@link CommandCatalog}'s table.
 *
 * @param name            full name: {@code guest-fstrim}, or the operation's name ({@code run})
 * @param suffix          address suffix: {@code fstrim} is served at {@code agent.fstrim}
 * @param kind            what serves it
 * @param params          the arguments it takes (ignored for {@link Kind#PASSTHROUGH})
 * @param atMostOne       groups of arguments of which at most one may be given
 * @param successResponse false when the agent sends no reply on success (shutdown, suspend)
 * @param mutating        it changes the guest: audited
 * @param freezes         it freezes filesystems: takes {@code autoThawMs}
 * @param restricted      denied by the default policy (API.md section 6)
 * @param exposed         served on the bus; false for the syncs the gateway owns
 * @param timeoutMs       default request timeout
 * @param since           QEMU version that added it; {@code v1} (the contract) for operations
 * @param operation       the operation that serves a {@link Kind#GATEWAY} row; null otherwise
 * @param commandClass    what it does, as {@code auth.grants} grant it
 */
public record CommandSpec(String name, String suffix, Kind kind, List<ParamSpec> params,
                          List<List<String>> atMostOne, boolean successResponse,
                          boolean mutating, boolean freezes, boolean restricted, boolean exposed,
                          long timeoutMs, String since, GuestOperation operation,
                          CommandClass commandClass) {

  public static final String ADDRESS_PREFIX = "agent.";
  private static final String AGENT_PREFIX = "guest-";

  public enum Kind {
    /** One guest-agent command, sent as it is. */
    AGENT,
    /** {@code agent.command}: any agent command named by {@code execute}, arguments unchecked. */
    PASSTHROUGH,
    /** Gateway logic over one guest's link ({@code run}, {@code file-get}, {@code sync}, ...). */
    GATEWAY,
    /** Needs no guest: {@code guests}. */
    CLUSTER
  }

  public CommandSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(suffix, "suffix");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(commandClass, "commandClass");
    params = List.copyOf(params);
    atMostOne = atMostOne.stream().map(List::copyOf).toList();
    for (List<String> group : atMostOne) {
      for (String member : group) {
        if (params.stream().noneMatch(p -> p.name().equals(member))) {
          throw new IllegalArgumentException(name + ": atMostOne names unknown " + member);
        }
      }
    }
    if (timeoutMs < 1 || timeoutMs > CommandCatalog.MAX_TIMEOUT_MS) {
      throw new IllegalArgumentException(name + ": timeout must be 1.."
          + CommandCatalog.MAX_TIMEOUT_MS + " ms, got " + timeoutMs);
    }
  }

  /** The bus address, {@code agent.fstrim}. */
  public String address() {
    return ADDRESS_PREFIX + suffix;
  }

  public Optional<ParamSpec> param(String paramName) {
    return params.stream().filter(p -> p.name().equals(paramName)).findFirst();
  }

  /** The parameters as one object type, for checking an {@code arguments} object. */
  ParamType.Obj argumentsType() {
    return new ParamType.Obj(params);
  }

  public CommandSpec withTimeoutMs(long ms) {
    return new CommandSpec(name, suffix, kind, params, atMostOne, successResponse, mutating,
        freezes, restricted, exposed, ms, since, operation, commandClass);
  }

  /** A guest-agent command; its address suffix is the name without {@code guest-}. */
  static Builder agent(String name, String since, CommandClass commandClass) {
    if (!name.startsWith(AGENT_PREFIX)) {
      throw new IllegalArgumentException("agent commands start with guest-: " + name);
    }
    return new Builder(name, name.substring(AGENT_PREFIX.length()), Kind.AGENT, since,
        commandClass);
  }

  /** A gateway operation; its name is its address suffix. */
  static Builder operation(String name, Kind kind, CommandClass commandClass) {
    return new Builder(name, name, kind, "v1", commandClass);
  }

  /** A gateway operation on one guest, served by its endpoint. */
  static Builder operation(GuestOperation operation, CommandClass commandClass) {
    Builder b = new Builder(operation.address(), operation.address(), Kind.GATEWAY, "v1",
        commandClass);
    b.operation = operation;
    return b;
  }

  /** One line of the catalog's table; defaults: replies, read-only, allowed, 10 s. */
  static final class Builder {
    private final String name;
    private final String suffix;
    private final Kind kind;
    private final String since;
    private final CommandClass commandClass;
    private final List<ParamSpec> params = new ArrayList<>();
    private final List<List<String>> atMostOne = new ArrayList<>();
    private boolean successResponse = true;
    private boolean mutating;
    private boolean freezes;
    private boolean restricted;
    private boolean exposed = true;
    private long timeoutMs = 10_000;
    private GuestOperation operation;

    private Builder(String name, String suffix, Kind kind, String since,
                    CommandClass commandClass) {
      this.name = name;
      this.suffix = suffix;
      this.kind = kind;
      this.since = since;
      this.commandClass = commandClass;
    }

    Builder params(ParamSpec... specs) {
      params.addAll(List.of(specs));
      return this;
    }

    Builder atMostOne(String... names) {
      atMostOne.add(List.of(names));
      return this;
    }

    Builder noSuccessResponse() {
      successResponse = false;
      return this;
    }

    Builder mutating() {
      mutating = true;
      return this;
    }

    Builder freezes() {
      freezes = true;
      mutating = true;
      return this;
    }

    Builder restricted() {
      restricted = true;
      return this;
    }

    Builder hidden() {
      exposed = false;
      return this;
    }

    Builder timeout(Duration timeout) {
      timeoutMs = timeout.toMillis();
      return this;
    }

    CommandSpec build() {
      return new CommandSpec(name, suffix, kind, params, atMostOne, successResponse, mutating,
          freezes, restricted, exposed, timeoutMs, since, operation, commandClass);
    }
  }
}
