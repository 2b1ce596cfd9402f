#include "api/request_metadata.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "api/json_depth.h"
#include "api/json_scan.h"

namespace signgate::api {

namespace {

using Pair = std::pair<std::string, std::string>;

constexpr bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A forward-only reader over JSON text. Skipping never recurses: containers are skipped by
// counting brackets, strings by finding their closing quote.
class Cursor {
 public:
  explicit Cursor(std::string_view s, std::size_t pos = 0) : s_(s), pos_(pos) {}

  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void space() {
    while (!at_end() && json_space(s_[pos_])) ++pos_;
  }
  bool eat(char c) {
    if (peek() != c || at_end()) return false;
    ++pos_;
    return true;
  }

  // Past the string that begins here; false when it does not end. `escaped` says whether it
  // holds a backslash.
  bool skip_string(bool* escaped = nullptr) {
    if (!eat('"')) return false;
    const std::size_t begin = pos_;
    bool any = false;
    for (std::size_t from = pos_;;) {
      const void* q = std::memchr(s_.data() + from, '"', s_.size() - from);
      if (q == nullptr) return false;
      const std::size_t at = static_cast<const char*>(q) - s_.data();
      std::size_t run = at;
      while (run > begin && s_[run - 1] == '\\') --run;
      if (escaped != nullptr && !any) any = std::memchr(s_.data() + from, '\\', at - from) != nullptr;
      if ((at - run) % 2 == 0) {  // an even run of backslashes escapes only itself
        pos_ = at + 1;
        if (escaped != nullptr) *escaped = any;
        return true;
      }
      from = at + 1;
    }
  }

  // Past the value that begins here: a string, an object or array (brackets counted, not
  // matched: what is not JSON is Bedrock's to refuse), or a literal or number.
  bool skip_value() {
    const char c = peek();
    if (at_end()) return false;
    if (c == '"') return skip_string();
    if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (!at_end()) {
        const char d = s_[pos_];
        if (d == '"') {
          if (!skip_string()) return false;
          continue;
        }
        ++pos_;
        if (d == '{' || d == '[') {
          ++depth;
        } else if (d == '}' || d == ']') {
          if (--depth == 0) return true;
        }
      }
      return false;
    }
    const std::size_t begin = pos_;
    while (!at_end()) {
      const char d = s_[pos_];
      if (d == ',' || d == '}' || d == ']' || d == ':' || d == '"' || d == '{' || d == '[' || json_space(d)) break;
      ++pos_;
    }
    return pos_ > begin;
  }

 private:
  std::string_view s_;
  std::size_t pos_;
};

// Whether `key` is one signgate stamps itself.
// Keys compared as a log reader might: ASCII case folded, surrounding whitespace ignored
// (Athena's JSON SerDe is case-insensitive: "Signgate_Client" must not stand beside ours).
bool same_key(std::string_view a, std::string_view b) {
  const auto trim = [](std::string_view s) {
    const auto first = s.find_first_not_of(" \t\n\r\f\v");
    if (first == std::string_view::npos) return std::string_view();
    return s.substr(first, s.find_last_not_of(" \t\n\r\f\v") - first + 1);
  };
  a = trim(a);
  b = trim(b);
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

bool owned_key(const MetadataStamp& stamp, std::string_view key) {
  if (same_key(key, kStampClientKey) || same_key(key, kStampRequestKey)) return true;
  return std::any_of(stamp.pairs.begin(), stamp.pairs.end(), [&](const Pair& p) { return same_key(p.first, key); });
}

// Whether configured pair `i` is sent: a valid key, not one of signgate's two, the first of its key.
bool sent_pair(const MetadataStamp& stamp, std::size_t i) {
  const std::string& key = stamp.pairs[i].first;
  if (!aws::valid_request_metadata_text(key, true) || key == kStampClientKey || key == kStampRequestKey) return false;
  return std::none_of(stamp.pairs.begin(), stamp.pairs.begin() + static_cast<std::ptrdiff_t>(i),
                      [&](const Pair& p) { return p.first == key; });
}

// How many pairs signgate sends itself (at most 16).
std::size_t own_pairs(const MetadataStamp& stamp) {
  std::size_t n = 2;
  for (std::size_t i = 0; i < stamp.pairs.size() && n < kMaxRequestMetadataPairs; ++i) n += sent_pair(stamp, i) ? 1 : 0;
  return n;
}

// The caller's pairs of the JSON object `text`, appended to `kept` (in the caller's order, the
// first of each key) up to `room` pairs in all; false when `text` is not a JSON object.
bool caller_pairs(std::string_view text, const MetadataStamp& stamp, std::size_t room, std::vector<Pair>& kept) {
  simdjson::dom::parser once;
  simdjson::dom::parser* parser = ready_parser(once, text.size(), kDefaultMaxJsonDepth);
  simdjson::dom::object object;
  if (parser == nullptr || parser->parse(text.data(), text.size(), true).get(object) != simdjson::SUCCESS) return false;
  for (const auto field : object) {
    if (kept.size() >= room) break;
    std::string_view value;
    if (field.value.get_string().get(value) != simdjson::SUCCESS) continue;
    const std::string_view key = field.key;
    if (!aws::valid_request_metadata_text(key, true) || !aws::valid_request_metadata_text(value, false) ||
        owned_key(stamp, key))
      continue;
    if (std::any_of(kept.begin(), kept.end(), [&](const Pair& p) { return p.first == key; })) continue;
    kept.emplace_back(key, value);
  }
  return true;
}

// The JSON string literal `literal` unescaped, or nullopt.
std::optional<std::string> json_string(std::string_view literal) {
  simdjson::dom::parser once;
  simdjson::dom::parser* parser = ready_parser(once, literal.size(), 1);
  std::string_view s;
  if (parser == nullptr || parser->parse(literal.data(), literal.size(), true).get(s) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return std::string(s);
}

// Appends `text` as a JSON string of what Bedrock accepts (metadata_value's rules).
void append_sanitized(std::string& out, std::string_view text) {
  out.push_back('"');
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size() && chars < kMaxRequestMetadataText; ++chars) {
    const auto c = static_cast<unsigned char>(text[i++]);
    if (!aws::request_metadata_char(c)) {
      out.push_back('_');
      if (c >= 0xC0) {  // the rest of this UTF-8 sequence is the same character
        while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
      }
      continue;
    }
    switch (c) {
      case '\t': out.append("\\t"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\f': out.append("\\f"); break;
      case '\v': out.append("\\u000b"); break;
      default: out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

// The metadata object: signgate's pairs first, then the caller's kept ones.
void append_object(std::string& out, const MetadataStamp& stamp, const std::vector<Pair>& caller) {
  out.push_back('{');
  append_json_string(out, kStampClientKey);
  out.push_back(':');
  append_sanitized(out, stamp.client);
  out.push_back(',');
  append_json_string(out, kStampRequestKey);
  out.push_back(':');
  append_sanitized(out, stamp.request_id);
  std::size_t n = 2;
  for (std::size_t i = 0; i < stamp.pairs.size() && n < kMaxRequestMetadataPairs; ++i) {
    if (!sent_pair(stamp, i)) continue;
    out.push_back(',');
    append_json_string(out, stamp.pairs[i].first);
    out.push_back(':');
    append_sanitized(out, stamp.pairs[i].second);
    ++n;
  }
  for (const auto& [key, value] : caller) {
    out.push_back(',');
    append_json_string(out, key);
    out.push_back(':');
    append_json_string(out, value);
  }
  out.push_back('}');
}

constexpr std::string_view kMember = "requestMetadata";

}  // namespace

std::string metadata_value(std::string_view text) {
  std::string quoted;
  append_sanitized(quoted, text);
  return json_string(quoted).value_or(std::string());  // the escapes it wrote, back to their characters
}

std::string stamp_metadata_header(const MetadataStamp& stamp, std::string_view caller) {
  std::vector<Pair> kept;
  // A value that is not a JSON object counts as none: the stamp alone.
  if (!caller.empty()) caller_pairs(caller, stamp, kMaxRequestMetadataPairs - own_pairs(stamp), kept);
  std::string out;
  out.reserve(64 + stamp.client.size() + stamp.request_id.size());
  append_object(out, stamp, kept);
  return out;
}

bool stamp_converse_body(std::string& body, const MetadataStamp& stamp) {
  // Where each requestMetadata member sits: its value, and where a later one's removal starts
  // (the end of the member before it, so the comma goes with it).
  struct Hit {
    std::size_t cut_from, value_begin, value_end;
  };
  std::vector<Hit> hits;
  std::vector<Pair> kept;
  const std::size_t room = kMaxRequestMetadataPairs - own_pairs(stamp);
  Cursor c(body, std::string_view(body).starts_with("\xEF\xBB\xBF") ? 3 : 0);  // a byte-order mark
  c.space();
  const std::size_t open = c.pos();
  if (!c.eat('{')) return false;
  c.space();
  bool members = false;
  if (!c.eat('}')) {
    std::size_t previous_end = open + 1;
    for (;;) {
      const std::size_t key_begin = c.pos();
      bool escaped = false;
      if (!c.skip_string(&escaped)) return false;
      const std::string_view raw(body.data() + key_begin + 1, c.pos() - key_begin - 2);
      bool ours = raw == kMember;
      if (escaped && raw.size() <= 6 * kMember.size()) {  // "request\u004detadata" is the same key to Bedrock
        ours = json_string(std::string_view(body).substr(key_begin, raw.size() + 2)) == kMember;
      }
      c.space();
      if (!c.eat(':')) return false;
      c.space();
      const std::size_t value_begin = c.pos();
      if (!c.skip_value()) return false;
      if (ours) {
        hits.push_back({previous_end, value_begin, c.pos()});
        caller_pairs(std::string_view(body).substr(value_begin, c.pos() - value_begin), stamp, room, kept);
      }
      members = true;
      previous_end = c.pos();
      c.space();
      if (c.eat(',')) {
        c.space();
        continue;
      }
      if (c.eat('}')) break;
      return false;
    }
  }
  std::string object;
  object.reserve(64 + stamp.client.size() + stamp.request_id.size());
  append_object(object, stamp, kept);
  if (hits.empty()) {
    std::string member;
    member.reserve(kMember.size() + object.size() + 4);
    member.push_back('"');
    member.append(kMember);
    member.append("\":");
    member.append(object);
    if (members) member.push_back(',');
    body.insert(open + 1, member);
  } else if (hits.size() == 1) {
    body.replace(hits[0].value_begin, hits[0].value_end - hits[0].value_begin, object);
  } else {
    std::string out;
    out.reserve(body.size() + object.size());
    out.append(body, 0, hits[0].value_begin);
    out.append(object);
    std::size_t from = hits[0].value_end;
    for (std::size_t i = 1; i < hits.size(); ++i) {
      out.append(body, from, hits[i].cut_from - from);
      from = hits[i].value_end;
    }
    out.append(body, from);
    body = std::move(out);
  }
  return true;
}

}  // namespace signgate::api
