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

}  // namespace signgate::api
