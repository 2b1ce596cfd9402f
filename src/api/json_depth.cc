#include "api/json_depth.h"

#include <cstring>

namespace signgate::api {

bool within_depth(std::string_view text, int max_depth) {
  int depth = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    // Skip to the next byte that can change the depth or open a string.
    while (p < end && *p != '"' && *p != '[' && *p != '{' && *p != ']' && *p != '}') ++p;
    if (p == end) break;
    const char c = *p++;
    if (c == '"') {
      // To the closing quote, stepping over escapes.
      for (;;) {
        const void* q = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        if (q == nullptr) return true;  // unterminated: the parser refuses it
        const char* quote = static_cast<const char*>(q);
        std::size_t backslashes = 0;
        for (const char* b = quote; b > p && b[-1] == '\\'; --b) ++backslashes;
        p = quote + 1;
        if (backslashes % 2 == 0) break;
      }
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (depth > 0) {
      --depth;
    }
  }
  return true;
}

nlohmann::json parse_json(std::string_view text, int max_depth, bool* too_deep) {
  const bool deep = !within_depth(text, max_depth);
  if (too_deep != nullptr) *too_deep = deep;
  if (deep) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, false);
}

}  // namespace signgate::api
