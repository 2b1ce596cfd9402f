#include "api/usage.h"

#include <simdjson.h>

#include <algorithm>
#include <memory>
#include <string>

#include "api/json_depth.h"
#include "api/json_fields.h"

namespace signgate::api {

using nlohmann::json;
namespace od = simdjson::ondemand;

namespace {

std::uint64_t saturated_sum(std::uint64_t a, std::uint64_t b) { return std::min(a + b, kMaxTokenCount); }

void add_count(std::optional<std::uint64_t>& into, const std::optional<std::uint64_t>& more) {
  if (more) into = saturated_sum(into.value_or(0), *more);
}

std::optional<std::uint64_t> count_in(const json& obj, std::string_view key) { return token_count(field(obj, key)); }

// The 1-hour share of Converse's cacheDetails ([{ttl, inputTokens}], 1h first): the sum of its
// 1h entries; nullopt when the list names none.
std::optional<std::uint64_t> one_hour_of(const json* details) {
  if (details == nullptr || !details->is_array()) return std::nullopt;
  std::optional<std::uint64_t> out;
  for (const json& d : *details) {
    if (string_field(d, "ttl") == "1h") add_count(out, count_in(d, "inputTokens"));
  }
  return out;
}

// ---- without a DOM (simdjson On Demand): whole answers, which may be large ----

std::optional<std::uint64_t> count_of(od::value v) {
  std::uint64_t n = 0;
  if (v.get_uint64().get(n) != simdjson::SUCCESS || n > kMaxTokenCount) return std::nullopt;
  return n;
}

// Calls `each(key, value)` for each member of `v` when it is an object; false when the document
// broke off on the way (the caller then stops reading it).
template <class Each>
bool for_each_member(od::value v, Each&& each) {
  od::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS) return true;  // another type: nothing to read
  for (auto member : obj) {
    std::string_view key;
    if (member.error() != simdjson::SUCCESS || member.unescaped_key().get(key) != simdjson::SUCCESS) return false;
    od::value value;
    if (member.value().get(value) != simdjson::SUCCESS) return false;
    if (!each(key, value)) return false;
  }
  return true;
}

template <class Each>
bool for_each_element(od::value v, Each&& each) {
  od::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) return true;
  for (auto element : arr) {
    od::value e;
    if (element.error() != simdjson::SUCCESS || std::move(element).get(e) != simdjson::SUCCESS) return false;
    if (!each(e)) return false;
  }
  return true;
}

// Parses `text` and calls `each(key, value)` for each member of its root object. The thread's
// parser and buffer are kept for documents up to kKeptParserBytes; a larger one gets its own,
// freed with it (On Demand's index is four bytes per byte of text).
template <class Each>
void scan_root(std::string_view text, Each&& each) {
  thread_local od::parser kept_parser;
  thread_local std::string kept_padded;
  std::unique_ptr<od::parser> own_parser;
  std::string own_padded;
  const bool small = text.size() <= kKeptParserBytes;
  if (!small) own_parser = std::make_unique<od::parser>();
  od::parser& parser = small ? kept_parser : *own_parser;
  std::string& padded = small ? kept_padded : own_padded;
  padded.assign(text);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (parser.iterate(padded.data(), text.size(), padded.size()).get(doc) != simdjson::SUCCESS) return;
  od::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return;
  for (auto member : root) {
    std::string_view key;
    if (member.error() != simdjson::SUCCESS || member.unescaped_key().get(key) != simdjson::SUCCESS) return;
    od::value value;
    if (member.value().get(value) != simdjson::SUCCESS) return;
    if (!each(key, value)) return;
  }
}

// Converse's TokenUsage members, On Demand.
bool converse_member(TokenUsage& u, std::string_view key, od::value v) {
  if (key == "inputTokens") {
    u.input = count_of(v);
  } else if (key == "outputTokens") {
    u.output = count_of(v);
  } else if (key == "cacheReadInputTokens") {
    u.cache_read = count_of(v);
  } else if (key == "cacheWriteInputTokens") {
    u.cache_write = count_of(v);
  } else if (key == "cacheDetails") {
    return for_each_element(v, [&](od::value detail) {
      bool one_hour = false;
      std::optional<std::uint64_t> n;
      const bool ok = for_each_member(detail, [&](std::string_view k, od::value x) {
        std::string_view ttl;
        if (k == "ttl") one_hour = x.get_string().get(ttl) == simdjson::SUCCESS && ttl == "1h";
        if (k == "inputTokens") n = count_of(x);
        return true;
      });
      if (one_hour) add_count(u.cache_write_1h, n);
      return ok;
    });
  }
  return true;
}

}  // namespace

void TokenUsage::update(const TokenUsage& more) {
  if (more.input) input = more.input;
  if (more.output) output = more.output;
  if (more.cache_read) cache_read = more.cache_read;
  if (more.cache_write) cache_write = more.cache_write;
  if (more.cache_write_1h) cache_write_1h = more.cache_write_1h;
}

void TokenUsage::fill(const TokenUsage& more) {
  if (!input) input = more.input;
  if (!output) output = more.output;
  if (!cache_read) cache_read = more.cache_read;
  if (!cache_write) cache_write = more.cache_write;
  if (!cache_write_1h) cache_write_1h = more.cache_write_1h;
}

void TokenUsage::add(const TokenUsage& more) {
  add_count(input, more.input);
  add_count(output, more.output);
  add_count(cache_read, more.cache_read);
  add_count(cache_write, more.cache_write);
  add_count(cache_write_1h, more.cache_write_1h);
}

std::optional<std::uint64_t> token_count(const json* v) {
  if (v == nullptr) return std::nullopt;
  std::uint64_t n = 0;
  if (v->is_number_unsigned()) {
    n = v->get<std::uint64_t>();
  } else if (v->is_number_integer() && v->get<std::int64_t>() >= 0) {
    n = static_cast<std::uint64_t>(v->get<std::int64_t>());
  } else {
    return std::nullopt;
  }
  if (n > kMaxTokenCount) return std::nullopt;
  return n;
}

std::optional<std::uint64_t> token_count(std::string_view digits) {
  if (digits.empty() || digits.size() > 13) return std::nullopt;  // 2^40 has 13 digits
  std::uint64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > kMaxTokenCount) return std::nullopt;
  return n;
}

TokenUsage converse_usage(const json& usage) {
  TokenUsage u;
  if (!usage.is_object()) return u;
  u.input = count_in(usage, "inputTokens");
  u.output = count_in(usage, "outputTokens");
  u.cache_read = count_in(usage, "cacheReadInputTokens");
  u.cache_write = count_in(usage, "cacheWriteInputTokens");
  u.cache_write_1h = one_hour_of(field(usage, "cacheDetails"));
  return u;
}

TokenUsage scan_converse_usage(std::string_view answer) {
  TokenUsage u;
  scan_root(answer, [&](std::string_view key, od::value v) {
    if (key != "usage") return true;
    for_each_member(v, [&](std::string_view k, od::value x) { return converse_member(u, k, x); });
    return false;  // read: the rest of the answer need not be
  });
  return u;
}

TokenUsage anthropic_usage(const json& usage) {
  TokenUsage u;
  if (!usage.is_object()) return u;
  u.input = count_in(usage, "input_tokens");
  u.output = count_in(usage, "output_tokens");
  u.cache_read = count_in(usage, "cache_read_input_tokens");
  u.cache_write = count_in(usage, "cache_creation_input_tokens");
  u.cache_write_1h = count_in(object_field(usage, "cache_creation"), "ephemeral_1h_input_tokens");
  return u;
}

TokenUsage invocation_metrics(const json& metrics) {
  TokenUsage u;
  if (!metrics.is_object()) return u;
  u.input = count_in(metrics, "inputTokenCount");
  u.output = count_in(metrics, "outputTokenCount");
  u.cache_read = count_in(metrics, "cacheReadInputTokenCount");
  u.cache_write = count_in(metrics, "cacheWriteInputTokenCount");
  return u;
}

TokenUsage invoke_answer_usage(std::string_view answer) {
  TokenUsage u;
  scan_root(answer, [&](std::string_view key, od::value v) {
    if (key == "usage") {
      // Anthropic's snake_case, or Nova's camelCase.
      return for_each_member(v, [&](std::string_view k, od::value x) {
        if (k == "input_tokens" || k == "inputTokens") {
          u.input = count_of(x);
        } else if (k == "output_tokens" || k == "outputTokens") {
          u.output = count_of(x);
        } else if (k == "cache_read_input_tokens" || k == "cacheReadInputTokenCount") {
          u.cache_read = count_of(x);
        } else if (k == "cache_creation_input_tokens" || k == "cacheWriteInputTokenCount") {
          u.cache_write = count_of(x);
        } else if (k == "cache_creation") {
          return for_each_member(x, [&](std::string_view kk, od::value y) {
            if (kk == "ephemeral_1h_input_tokens") u.cache_write_1h = count_of(y);
            return true;
          });
        }
        return true;
      });
    }
    if (key == "prompt_token_count" || key == "inputTextTokenCount") {
      u.input = count_of(v);
    } else if (key == "generation_token_count") {
      u.output = count_of(v);
    } else if (key == "results") {  // Titan Text: each result's tokenCount
      return for_each_element(v, [&](od::value result) {
        return for_each_member(result, [&](std::string_view k, od::value x) {
          if (k == "tokenCount") add_count(u.output, count_of(x));
          return true;
        });
      });
    } else if (key == "meta") {  // Cohere Command R: meta.billed_units
      return for_each_member(v, [&](std::string_view k, od::value x) {
        if (k != "billed_units") return true;
        return for_each_member(x, [&](std::string_view kk, od::value y) {
          if (kk == "input_tokens") u.input = count_of(y);
          if (kk == "output_tokens") u.output = count_of(y);
          return true;
        });
      });
    }
    return true;
  });
  return u;
}

TokenUsage openai_usage(const json& usage) {
  TokenUsage u;
  if (!usage.is_object()) return u;
  const bool chat = field(usage, "prompt_tokens") != nullptr || field(usage, "completion_tokens") != nullptr;
  const auto prompt = count_in(usage, chat ? "prompt_tokens" : "input_tokens");
  u.output = count_in(usage, chat ? "completion_tokens" : "output_tokens");
  const auto cached =
      count_in(object_field(usage, chat ? "prompt_tokens_details" : "input_tokens_details"), "cached_tokens");
  if (prompt) {
    const std::uint64_t read = std::min(cached.value_or(0), *prompt);
    u.input = *prompt - read;
    u.cache_read = read;
    u.cache_write = 0;  // the OpenAI API reports no cache writes
  }
  return u;
}

}  // namespace signgate::api
