// JSON from callers and from the upstream is parsed with a nesting-depth limit: nlohmann's
// parser is iterative, but dump(), copies and comparisons recurse, so a document nested
// 100,000 deep overflows the stack later (found by an adversarial review). Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace signgate::api {

// Deep enough for real tool schemas; `limits.max_json_depth` overrides it.
inline constexpr int kDefaultMaxJsonDepth = 128;

// True when no array or object in `text` nests deeper than `max_depth` (brackets inside
// strings do not count). Linear, no recursion; stops at the first level too deep. Says
// nothing about the rest of the syntax.
bool within_depth(std::string_view text, int max_depth);

// Parses `text` as json::parse(text, nullptr, false) does (discarded on a syntax error),
// and also discarded when it nests deeper than `max_depth`; `too_deep` then says so.
nlohmann::json parse_json(std::string_view text, int max_depth, bool* too_deep = nullptr);

}  // namespace signgate::api
