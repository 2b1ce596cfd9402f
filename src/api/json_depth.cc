#include "api/json_depth.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "api/json_scan.h"

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

simdjson::dom::parser& kept_parser() {
  thread_local simdjson::dom::parser kept;
  return kept;
}

simdjson::dom::parser* ready_parser(simdjson::dom::parser& once, std::size_t size, int max_depth) {
  return able_to_nest(size <= kKeptParserBytes ? kept_parser() : once, size, max_depth);
}

simdjson::dom::parser* able_to_nest(simdjson::dom::parser& parser, std::size_t size, int max_depth) {
  const auto depth = static_cast<std::size_t>(std::max(max_depth, 1)) + 1;  // the root counts
  if (parser.max_depth() < depth && parser.allocate(std::max(parser.capacity(), size), depth) != simdjson::SUCCESS) {
    return nullptr;
  }
  return &parser;
}

namespace {

using nlohmann::json;
namespace dom = simdjson::dom;

// nlohmann's DOM of a simdjson element, typed as nlohmann's parser types it: an integer ≥ 0 is
// unsigned, a negative one signed, and a repeated key keeps its last value. The recursion is
// as deep as the document, which within_depth bounded before it was parsed.
json to_nlohmann(dom::element e) {
  switch (e.type()) {
    case dom::element_type::OBJECT: {
      json out(json::value_t::object);
      auto& fields = *out.get_ptr<json::object_t*>();
      dom::object object;
      if (e.get(object) == simdjson::SUCCESS) {
        for (const dom::key_value_pair field : object) {
          fields.insert_or_assign(std::string(field.key), to_nlohmann(field.value));
        }
      }
      return out;
    }
    case dom::element_type::ARRAY: {
      json out(json::value_t::array);
      auto& items = *out.get_ptr<json::array_t*>();
      dom::array array;
      if (e.get(array) == simdjson::SUCCESS) {
        items.reserve(array.size());
        for (const dom::element item : array) items.push_back(to_nlohmann(item));
      }
      return out;
    }
    case dom::element_type::INT64: {
      std::int64_t n = 0;
      if (e.get(n) != simdjson::SUCCESS) break;
      return n >= 0 ? json(static_cast<std::uint64_t>(n)) : json(n);
    }
    case dom::element_type::UINT64: {
      std::uint64_t n = 0;
      if (e.get(n) != simdjson::SUCCESS) break;
      return json(n);
    }
    case dom::element_type::DOUBLE: {
      double d = 0;
      if (e.get(d) != simdjson::SUCCESS) break;
      return json(d);
    }
    case dom::element_type::STRING: {
      std::string_view s;
      if (e.get(s) != simdjson::SUCCESS) break;
      return json(std::string(s));
    }
    case dom::element_type::BOOL: {
      bool b = false;
      if (e.get(b) != simdjson::SUCCESS) break;
      return json(b);
    }
    case dom::element_type::NULL_VALUE: break;
  }
  return json(nullptr);  // null (a type's read cannot fail on its own type)
}

// Whether `text` holds a -0 integer (not -0.5, -0e1 or -01, which is no JSON): simdjson reads
// it as 0, which nlohmann types as unsigned, while nlohmann's own parser types it as signed.
// Inside a string it is a false alarm, which only costs nlohmann's parse.
bool has_negative_zero(std::string_view text) {
  for (auto at = text.find("-0"); at != std::string_view::npos; at = text.find("-0", at + 2)) {
    const char next = at + 2 < text.size() ? text[at + 2] : ' ';
    if (next != '.' && next != 'e' && next != 'E' && (next < '0' || next > '9')) return true;
  }
  return false;
}

template <typename Number>
void append_integer(std::string& out, Number n) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

}  // namespace

json parse_json(std::string_view text, int max_depth, bool* too_deep) {
  const bool deep = !within_depth(text, max_depth);
  if (too_deep != nullptr) *too_deep = deep;
  if (deep) return json(json::value_t::discarded);
  // nlohmann skips a byte-order mark; simdjson refuses one.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  const std::string_view body = text.substr(0, 3) == kBom ? text.substr(3) : text;
  if (!has_negative_zero(body)) {
    dom::parser once;  // freed before nlohmann's parse below, if it comes to that
    if (dom::parser* parser = ready_parser(once, body.size(), max_depth)) {
      dom::element root;
      if (parser->parse(body.data(), body.size(), true).get(root) == simdjson::SUCCESS) return to_nlohmann(root);
    }
  }
  return json::parse(text, nullptr, false);
}

void append_json(std::string& out, const json& j) {
  switch (j.type()) {
    case json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, value] : *j.get_ptr<const json::object_t*>()) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string_checked(out, key);
        out.push_back(':');
        append_json(out, value);
      }
      out.push_back('}');
      return;
    }
    case json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const json& item : *j.get_ptr<const json::array_t*>()) {
        if (!first) out.push_back(',');
        first = false;
        append_json(out, item);
      }
      out.push_back(']');
      return;
    }
    case json::value_t::string: append_json_string_checked(out, *j.get_ptr<const json::string_t*>()); return;
    case json::value_t::boolean: out += *j.get_ptr<const json::boolean_t*>() ? "true" : "false"; return;
    case json::value_t::null: out += "null"; return;
    case json::value_t::number_integer: append_integer(out, *j.get_ptr<const json::number_integer_t*>()); return;
    case json::value_t::number_unsigned: append_integer(out, *j.get_ptr<const json::number_unsigned_t*>()); return;
    case json::value_t::number_float: {
      // As nlohmann's serializer writes a double: its own shortest form, "null" when not finite.
      const double d = *j.get_ptr<const json::number_float_t*>();
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      char buf[64];
      const char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, static_cast<std::size_t>(end - buf));
      return;
    }
    default: break;  // binary, discarded: never on these paths
  }
  out += j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string dump_json(const json& j) {
  std::string out;
  append_json(out, j);
  return out;
}

}  // namespace signgate::api
