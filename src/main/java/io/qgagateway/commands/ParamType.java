package io.qgagateway.commands;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.stream.Collectors;

/**
 * The JSON type of a command parameter, as far as QAPI distinguishes them: strings, 64-bit
 * integers, booleans, enums, arrays, objects with their own fields, and alternates (a value
 * that may be one of several types, e.g. guest-file-seek's {@code whence}).
 *
 * <p>Checks are strict the way the agent's QAPI visitor is: {@code 1.0} is not an integer,
 * {@code "true"} is not a boolean, and {@code null} is no value of any type.
 */
public sealed interface ParamType {

  ParamType STRING = new Str();
  ParamType BOOL = new Bool();
  ParamType INT = new Int(Long.MIN_VALUE);
  /** QAPI's uint64: the agent refuses negative values, so do we, with a better message. */
  ParamType UINT = new Int(0);

  /** What values of this type look like, for messages: {@code integer}, {@code array of string}. */
  String describe();

  /** Null when {@code value} fits, else the message {@code "path: expected X, got Y"}. */
  String problem(Object value, String path);

  static ParamType intAtLeast(long min) {
    return new Int(min);
  }

  static ParamType oneOf(String... values) {
    return new OneOf(List.of(values));
  }

  static ParamType arrayOf(ParamType element) {
    return new Arr(element);
  }

  static ParamType object(ParamSpec... fields) {
    return new Obj(List.of(fields));
  }

  static ParamType either(ParamType... alternatives) {
    return new Either(List.of(alternatives));
  }

  record Str() implements ParamType {
    @Override
    public String describe() {
      return "string";
    }

    @Override
    public String problem(Object value, String path) {
      return value instanceof String ? null : mismatch(path, this, value);
    }
  }

  record Bool() implements ParamType {
    @Override
    public String describe() {
      return "boolean";
    }

    @Override
    public String problem(Object value, String path) {
      return value instanceof Boolean ? null : mismatch(path, this, value);
    }
  }

  /** A 64-bit integer of at least {@code min}; Vert.x decodes JSON integers as Integer or Long. */
  record Int(long min) implements ParamType {
    @Override
    public String describe() {
      return min == Long.MIN_VALUE ? "integer" : "integer >= " + min;
    }

    @Override
    public String problem(Object value, String path) {
      return JsonKind.isInteger(value) && ((Number) value).longValue() >= min
          ? null : mismatch(path, this, value);
    }
  }

  record OneOf(List<String> values) implements ParamType {
    @Override
    public String describe() {
      return "one of " + values.stream().map(v -> '"' + v + '"').collect(Collectors.joining(", "));
    }

    @Override
    public String problem(Object value, String path) {
      return values.contains(value) ? null : mismatch(path, this, value);
    }
  }

  record Arr(ParamType element) implements ParamType {
    @Override
    public String describe() {
      return "array of " + element.describe();
    }

    @Override
    public String problem(Object value, String path) {
      if (!(value instanceof JsonArray array)) {
        return mismatch(path, this, value);
      }
      for (int i = 0; i < array.size(); i++) {
        // getValue, not the raw list: it wraps nested Maps and Lists as JsonObject/JsonArray
        String problem = element.problem(array.getValue(i), path + "[" + i + "]");
        if (problem != null) {
          return problem;
        }
      }
      return null;
    }
  }

  record Obj(List<ParamSpec> fields) implements ParamType {
    @Override
    public String describe() {
      return "object";
    }

    @Override
    public String problem(Object value, String path) {
      return value instanceof JsonObject object
          ? fieldsProblem(object, path, "field") : mismatch(path, this, value);
    }

    /**
     * Unknown names first (a typo explains a "missing" one), then each field in declared order.
     * {@code noun} names what the fields are in messages: "field", "argument of guest-fstrim".
     */
    String fieldsProblem(JsonObject object, String path, String noun) {
      for (String name : object.fieldNames()) {
        if (fields.stream().noneMatch(f -> f.name().equals(name))) {
          return path + "." + name + ": unknown " + noun;
        }
      }
      for (ParamSpec field : fields) {
        String fieldPath = path + "." + field.name();
        if (!object.containsKey(field.name())) {
          if (field.required()) {
            return fieldPath + ": missing required " + noun;
          }
          continue;
        }
        String problem = field.type().problem(object.getValue(field.name()), fieldPath);
        if (problem != null) {
          return problem;
        }
      }
      return null;
    }
  }

  record Either(List<ParamType> alternatives) implements ParamType {
    @Override
    public String describe() {
      return alternatives.stream().map(ParamType::describe).collect(Collectors.joining(" or "));
    }

    @Override
    public String problem(Object value, String path) {
      return alternatives.stream().anyMatch(t -> t.problem(value, path) == null)
          ? null : mismatch(path, this, value);
    }
  }

  private static String mismatch(String path, ParamType expected, Object value) {
    return path + ": expected " + expected.describe() + ", got " + describeValue(expected, value);
  }

  /**
   * A string is quoted where an enum was expected, as there it is the interesting part and
   * never a secret; an integer is shown where it broke a minimum.
   */
  private static String describeValue(ParamType expected, Object value) {
    boolean enumExpected = expected instanceof OneOf || expected instanceof Either e
        && e.alternatives().stream().anyMatch(OneOf.class::isInstance);
    if (value instanceof String s && enumExpected) {
      return '"' + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + '"';
    }
    if (JsonKind.isInteger(value) && expected instanceof Int) {
      return value.toString();
    }
    return JsonKind.of(value);
  }
}
