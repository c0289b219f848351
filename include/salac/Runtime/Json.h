//===- Json.h - A small JSON reader for kernel manifests ---------*- C++ -*-===//
//
// Just enough JSON (RFC 8259) to read manifest.json without third-party code.
// Every value remembers where it started, so that a manifest that parses but
// is wrong can still be reported as "manifest.json:12:9: ...".
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_JSON_H
#define SALAC_RUNTIME_JSON_H

#include "salac/Runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace salac::rt {

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0.0;
  /// Set for number literals without fraction or exponent that fit in int64.
  bool isInteger = false;
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> items;
  /// Object members in document order; keys are unique (duplicates are a
  /// parse error: in a manifest they are always a mistake).
  std::vector<std::pair<std::string, JsonValue>> members;

  /// 1-based position of the value's first character.
  int line = 0, column = 0;

  bool isNull() const { return kind == Kind::Null; }
  bool isBool() const { return kind == Kind::Bool; }
  bool isNumber() const { return kind == Kind::Number; }
  bool isString() const { return kind == Kind::String; }
  bool isArray() const { return kind == Kind::Array; }
  bool isObject() const { return kind == Kind::Object; }

  /// The member named `key`, or nullptr (also when this is not an object).
  const JsonValue *find(std::string_view key) const;

  /// "object", "array", "string", "integer", "number", "true/false", "null".
  const char *kindName() const;
};

/// Parses `text` completely (trailing garbage is an error). `origin` names the
/// source in messages, e.g. "/pkg/manifest.json:3:14 (offset 52): expected ...".
Status parseJson(std::string_view text, const std::string &origin,
                 JsonValue &out);

} // namespace salac::rt

#endif // SALAC_RUNTIME_JSON_H
