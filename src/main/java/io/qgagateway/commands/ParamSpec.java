package io.qgagateway.commands;

import java.util.Objects;

/** One parameter of a command, or one field of an object parameter. */
public record ParamSpec(String name, ParamType type, boolean required) {

  public ParamSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(type, "type");
  }

  public static ParamSpec req(String name, ParamType type) {
    return new ParamSpec(name, type, true);
  }

  public static ParamSpec opt(String name, ParamType type) {
    return new ParamSpec(name, type, false);
  }

  /** Never logged; decided by name (see {@link Redactor}) so passthrough bodies are covered too. */
  public boolean secret() {
    return Redactor.isSecret(name);
  }
}
