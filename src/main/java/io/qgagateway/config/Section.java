package io.qgagateway.config;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Typed, path-aware reads of one configuration object. Every key read is remembered so that
 * {@link #finish()} can reject the ones nobody read: a typo is an error, not a silent default.
 */
final class Section {

  private final String path;
  private final JsonObject json;
  private final Set<String> read = new LinkedHashSet<>();

  private Section(String path, JsonObject json) {
    this.path = path;
    this.json = json;
  }

  static Section root(JsonObject json) {
    return new Section("", json == null ? new JsonObject() : json);
  }

  /** This section's own key, e.g. {@code http.tls}. */
  String path() {
    return path;
  }

  String key(String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  boolean has(String key) {
    return json.getValue(key) != null;
  }

  Section section(String key) {
    Object value = take(key);
    if (value == null) {
      return new Section(key(key), new JsonObject());
    }
    if (!(value instanceof JsonObject object)) {
      throw new ConfigException(key(key) + ": expected a mapping");
    }
    return new Section(key(key), object);
  }

  List<Section> sections(String key) {
    Object value = take(key);
    List<Section> out = new ArrayList<>();
    if (value == null) {
      return out;
    }
    if (!(value instanceof JsonArray array)) {
      throw new ConfigException(key(key) + ": expected a list");
    }
    for (int i = 0; i < array.size(); i++) {
      if (!(array.getValue(i) instanceof JsonObject object)) {
        throw new ConfigException(key(key) + "[" + i + "]: expected a mapping");
      }
      out.add(new Section(key(key) + "[" + i + "]", object));
    }
    return out;
  }

  List<String> strings(String key) {
    Object value = take(key);
    List<String> out = new ArrayList<>();
    if (value == null) {
      return out;
    }
    if (!(value instanceof JsonArray array)) {
      throw new ConfigException(key(key) + ": expected a list of strings");
    }
    for (int i = 0; i < array.size(); i++) {
      if (!(array.getValue(i) instanceof String s)) {
        throw new ConfigException(key(key) + "[" + i + "]: expected a string");
      }
      out.add(s);
    }
    return out;
  }

  String string(String key, String fallback) {
    Object value = take(key);
    if (value == null) {
      return fallback;
    }
    if (!(value instanceof String s)) {
      throw new ConfigException(key(key) + ": expected a string");
    }
    return s;
  }

  boolean bool(String key, boolean fallback) {
    Object value = take(key);
    if (value == null) {
      return fallback;
    }
    if (!(value instanceof Boolean b)) {
      throw new ConfigException(key(key) + ": expected true or false");
    }
    return b;
  }

  long number(String key, long fallback, long min, long max) {
    Object value = take(key);
    if (value == null) {
      return fallback;
    }
    if (!(value instanceof Integer || value instanceof Long)) {
      throw new ConfigException(key(key) + ": expected a whole number");
    }
    long n = ((Number) value).longValue();
    if (n < min || n > max) {
      throw new ConfigException(key(key) + ": must be between " + min + " and " + max + ", got " + n);
    }
    return n;
  }

  int integer(String key, int fallback, int min, int max) {
    return (int) number(key, fallback, min, max);
  }

  /** The value as it is (null when absent), for keys that take more than one type. */
  Object value(String key) {
    return take(key);
  }

  /** The raw object, for parts another class validates (it reports paths from {@link #key}). */
  JsonObject raw(String key) {
    Object value = take(key);
    if (value == null) {
      return new JsonObject();
    }
    if (!(value instanceof JsonObject object)) {
      throw new ConfigException(key(key) + ": expected a mapping");
    }
    return object;
  }

  /** Rejects keys no one read. */
  void finish() {
    for (String key : json.fieldNames()) {
      if (!read.contains(key)) {
        throw new ConfigException(key(key) + ": unknown key");
      }
    }
  }

  private Object take(String key) {
    read.add(key);
    return json.getValue(key);
  }
}
