// JSON without a DOM, for the per-request and per-token paths: reading one string field
// (simdjson On Demand) and writing string literals. A scanned document's UTF-8 is validated
// whole; its syntax only as far as the fields read, so callers fall back to a full parse on
// nullopt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace signgate::api {

// The unescaped string at doc[key] or doc[key][inner]; nullopt when the document does not
// parse that far, the field is missing or it is not a string.
std::optional<std::string> scan_string(std::string_view doc, std::string_view key, std::string_view inner = {});

// Appends `s` as a JSON string literal. Unlike append_json_string, `s` may
// be any bytes: invalid UTF-8 (a model ID off the wire) is replaced by U+FFFD, not copied.
void append_json_string_checked(std::string& out, std::string_view s);

// Appends `s` as a JSON string literal, quotes included, escaped as nlohmann's dump() escapes
// it. `s` must be valid UTF-8 (it comes from a parsed JSON document); only '"', '\\' and
// control characters need escaping.
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
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
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
