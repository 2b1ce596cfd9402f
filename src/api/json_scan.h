// Reads one string field from a small JSON document without building a DOM (simdjson On
// Demand): the stream translators' per-token path. The document's UTF-8 is validated whole;
// its syntax only as far as the fields read, so callers fall back to a full parse on nullopt.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace signgate::api {

// The unescaped string at doc[key] or doc[key][inner]; nullopt when the document does not
// parse that far, the field is missing or it is not a string.
std::optional<std::string> scan_string(std::string_view doc, std::string_view key, std::string_view inner = {});

// Appends `s` as a JSON string literal. Unlike append_json_string (json_fields.h), `s` may
// be any bytes: invalid UTF-8 (a model ID off the wire) is replaced by U+FFFD, not copied.
void append_json_string_checked(std::string& out, std::string_view s);

}  // namespace signgate::api
