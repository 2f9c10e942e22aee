// A small strict JSON parser (RFC 8259) for checkpoint headers and config files. The core
// must not depend on a JSON library that GPU servers may lack.
//
// Strictness: no comments, no trailing commas, no NaN/Infinity, no leading zeros, no control
// characters in strings, valid \u escapes (surrogate pairs joined), duplicate object keys
// rejected, nesting depth limited (no stack exhaustion on hostile input), nothing but
// whitespace after the value. Errors are JsonError with a byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aeb::json {

class JsonError : public std::runtime_error {
 public:
  JsonError(const std::string& message, size_t offset)
      : std::runtime_error(message + " at byte " + std::to_string(offset)), offset_(offset) {}
  size_t offset() const noexcept { return offset_; }

 private:
  size_t offset_;
};

enum class Type { Null, Bool, Number, String, Array, Object };

class Value {
 public:
  Value() = default;
  static Value make_bool(bool b);
  static Value make_number(double d, bool is_integer, int64_t integer);
  static Value make_string(std::string s);
  static Value make_array(std::vector<Value> items);
  static Value make_object(std::vector<std::pair<std::string, Value>> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  // True when the literal had no fraction/exponent and fits in int64.
  bool is_integer() const { return type_ == Type::Number && is_integer_; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  bool as_bool() const { return bool_; }
  double as_double() const { return number_; }
  int64_t as_int() const { return integer_; }
  const std::string& as_string() const { return string_; }
  const std::vector<Value>& items() const { return array_; }
  // Object members in document order.
  const std::vector<std::pair<std::string, Value>>& members() const { return object_; }
  // nullptr when absent (or when this is not an object).
  const Value* find(const std::string& key) const;

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
  std::map<std::string, size_t> index_;
};

constexpr int kMaxDepth = 64;

Value parse(const char* data, size_t size);
inline Value parse(const std::string& text) { return parse(text.data(), text.size()); }

const char* type_name(Type t);

}  // namespace aeb::json
