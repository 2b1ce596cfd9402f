#include "api/json_scan.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace signgate::api {

std::optional<std::string> scan_string(std::string_view text, std::string_view key, std::string_view inner) {
  // One parser and one padded buffer per thread, reused: no allocation once warmed up.
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string padded;
  padded.assign(text);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  simdjson::ondemand::document doc;
  if (parser.iterate(padded.data(), text.size(), padded.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::value value;
  if (root.find_field_unordered(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  if (!inner.empty()) {
    simdjson::ondemand::object nested;
    if (value.get_object().get(nested) != simdjson::SUCCESS) return std::nullopt;
    if (nested.find_field_unordered(inner).get(value) != simdjson::SUCCESS) return std::nullopt;
  }
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return std::string(s);
}

void append_json_string_checked(std::string& out, std::string_view s) {
  // Keys and most values are short and ASCII: an OR over the bytes (vectorised, no branch per
  // byte) settles those without simdjson's validator call.
  unsigned char high = 0;
  for (const char c : s) high |= static_cast<unsigned char>(c);
  if (high < 0x80 || simdjson::validate_utf8(s.data(), s.size())) {
    append_json_string(out, s);
  } else {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace signgate::api
