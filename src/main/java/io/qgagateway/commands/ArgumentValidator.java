package io.qgagateway.commands;

import io.qgagateway.api.Codes;
import io.qgagateway.api.Failures;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;

import java.util.List;

/**
 * Checks a request's {@code arguments} against its command's parameters before anything is sent
 * to the guest: unknown names, missing required ones, types (nested ones too), and arguments that
 * exclude each other. Messages name the field by its path from the body's root:
 * {@code arguments.vcpus[1].online: missing required field}.
 */
public final class ArgumentValidator {

  private ArgumentValidator() {
  }

  /**
   * The arguments to send, never null ({@code null} means none). Passthrough arguments are only
   * checked to be an object: that address exists for what the catalog does not model.
   *
   * @throws ReplyException with code 400 naming the bad field
   */
  public static JsonObject validate(CommandSpec spec, Object arguments) {
    if (arguments == null) {
      arguments = new JsonObject();
    }
    if (!(arguments instanceof JsonObject object)) {
      throw Failures.of(Codes.BAD_REQUEST,
          "arguments: expected object, got " + JsonKind.of(arguments));
    }
    if (spec.kind() != CommandSpec.Kind.PASSTHROUGH) {
      String problem = spec.argumentsType()
          .fieldsProblem(object, "arguments", "argument of " + spec.name());
      if (problem == null) {
        problem = exclusionProblem(spec, object);
      }
      if (problem != null) {
        throw Failures.of(Codes.BAD_REQUEST, problem);
      }
    }
    return object;
  }

  private static String exclusionProblem(CommandSpec spec, JsonObject arguments) {
    for (List<String> group : spec.atMostOne()) {
      List<String> given = group.stream().filter(arguments::containsKey).toList();
      if (given.size() > 1) {
        return "arguments." + given.get(1) + ": not allowed together with arguments."
            + given.get(0);
      }
    }
    return null;
  }
}
