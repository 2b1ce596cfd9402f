// Typed reads of JSON fields that may be missing or of another type. nlohmann's value()
// throws when the field exists with the wrong type, and these bodies come from callers and
// from the upstream: a wrong type must read as absent, not throw (found by fuzzing).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace signgate::api {

// The field `key` of `obj` when `obj` is an object holding it, else nullptr.
inline const nlohmann::json* field(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

inline std::string string_field(const nlohmann::json& obj, std::string_view key, std::string_view fallback = "") {
  const nlohmann::json* v = field(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string(fallback);
}

inline bool bool_field(const nlohmann::json& obj, std::string_view key, bool fallback = false) {
  const nlohmann::json* v = field(obj, key);
  return v != nullptr && v->is_boolean() ? v->get<bool>() : fallback;
}

// A token count: a non-negative integer, else `fallback`.
inline std::uint64_t count_field(const nlohmann::json& obj, std::string_view key, std::uint64_t fallback = 0) {
  const nlohmann::json* v = field(obj, key);
  if (v == nullptr) return fallback;
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  if (v->is_number_integer() && v->get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v->get<std::int64_t>());
  return fallback;
}

// An object field, or an empty object.
inline const nlohmann::json& object_field(const nlohmann::json& obj, std::string_view key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json* v = field(obj, key);
  return v != nullptr && v->is_object() ? *v : kEmpty;
}

// Appends `s` as a JSON string literal, quotes included. `s` must be valid UTF-8 (it comes
// from a parsed JSON document); only '"', '\\' and control characters need escaping.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace signgate::api
