#include "api/json_depth.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
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

simdjson::dom::parser* ready_parser(simdjson::dom::parser& kept, simdjson::dom::parser& once, std::size_t size,
                                    int max_depth) {
  simdjson::dom::parser& parser = size <= kKeptParserBytes ? kept : once;
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
  thread_local dom::parser kept;
  dom::parser once;
  if (dom::parser* parser = ready_parser(kept, once, text.size(), max_depth)) {
    dom::element root;
    if (parser->parse(text.data(), text.size(), true).get(root) == simdjson::SUCCESS) return to_nlohmann(root);
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
    default: break;  // a double (nlohmann's shortest form is its own), binary, discarded: rare
  }
  out += j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string dump_json(const json& j) {
  std::string out;
  append_json(out, j);
  return out;
}

}  // namespace signgate::api
