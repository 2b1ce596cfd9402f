#include "api/anthropic/token_estimate.h"

#include <cstdint>
#include <string_view>
#include <utility>

#include "api/json_fields.h"
#include "common/base64.h"

namespace signgate::api::anthropic {

using nlohmann::json;

namespace {

// count_tokens' estimate, for a model Bedrock's CountTokens refuses. It must never come out below
// the true count (Claude Code sizes its context by it), so every term is an upper bound:
//   32 per request, 8 per message, 8 per content block;
//   text (every string of system, messages and tools, and object keys): 2 tokens per 5 ASCII bytes
//     (Claude's tokenizers average 3.5-4 characters a token in English and code; Opus 4.7's new one
//     up to 1.35 times more tokens), 1 per 2 other bytes (a CJK character, 3 bytes, is 1 or 2);
//     a number, true, false or null 4; thinking signatures nothing (they are not read as text);
//   an image: width*height/750 (Anthropic's vision guide) read from the PNG, GIF, JPEG or WebP
//     header, at most kImageTokens; an image whose size is unknown (a URL, an unreadable header):
//     kImageTokens;
//   a PDF: kPageTokens per page (each page is read as text and as an image), pages counted by
//     their /Type/Page objects (none found: one per 20 KB); a text document: its text; a document
//     by URL: 20 pages;
//   tools: 400 once (Anthropic's tool-use system prompt, 346 tokens at most), 16 per tool, and
//     their names, descriptions and schemas as text.
constexpr std::uint64_t kImageTokens = 5'000;  // Opus 4.7+: up to ~3.75 MP / 750
constexpr std::uint64_t kPageTokens = 3'000 + kImageTokens;
constexpr std::size_t kImageHeaderChars = 64 * 1024;  // base64 read for an image's size: 48 KiB

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

std::uint64_t text_tokens(std::string_view s) {
  std::uint64_t ascii = 0;
  for (const char c : s) ascii += static_cast<unsigned char>(c) < 0x80 ? 1 : 0;
  const std::uint64_t other = s.size() - ascii;
  return (ascii * 2 + 4) / 5 + (other + 1) / 2;
}

std::uint32_t be16(std::string_view b, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 8) | static_cast<unsigned char>(b[at + 1]);
}
std::uint32_t le16(std::string_view b, std::size_t at) { return be16(b, at) >> 8 | (be16(b, at) & 0xFF) << 8; }
std::uint32_t le24(std::string_view b, std::size_t at) {
  return le16(b, at) | static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16;
}

// Pixel size from an image's first bytes; {0, 0} when the header says nothing readable.
std::pair<std::uint64_t, std::uint64_t> image_size(std::string_view b) {
  if (b.size() >= 24 && b.substr(0, 8) == "\x89PNG\r\n\x1a\n") {
    return {std::uint64_t{be16(b, 16)} << 16 | be16(b, 18), std::uint64_t{be16(b, 20)} << 16 | be16(b, 22)};
  }
  if (b.size() >= 10 && b.substr(0, 4) == "GIF8") return {le16(b, 6), le16(b, 8)};
  if (b.size() >= 30 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
    const std::string_view chunk = b.substr(12, 4);
    if (chunk == "VP8X") return {le24(b, 24) + 1, le24(b, 27) + 1};
    if (chunk == "VP8 ") return {le16(b, 26) & 0x3FFF, le16(b, 28) & 0x3FFF};
    if (chunk == "VP8L" && b.size() >= 25) {
      const std::uint32_t bits = le16(b, 21) | le16(b, 23) << 16;
      return {(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
    }
    return {0, 0};
  }
  if (b.size() >= 4 && b.substr(0, 2) == "\xFF\xD8") {
    std::size_t at = 2;  // JPEG: segments up to a start-of-frame marker, which holds the size
    while (at + 9 <= b.size() && static_cast<unsigned char>(b[at]) == 0xFF) {
      const auto marker = static_cast<unsigned char>(b[at + 1]);
      if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
        return {be16(b, at + 7), be16(b, at + 5)};
      }
      at += 2 + be16(b, at + 2);
    }
  }
  return {0, 0};
}

std::uint64_t image_tokens(const nlohmann::json& source) {
  const std::string* data = nullptr;
  if (const json* d = field(source, "data"); d != nullptr && d->is_string()) data = &d->get_ref<const std::string&>();
  if (data == nullptr || string_field(source, "type") != "base64") return kImageTokens;
  const std::string_view head =
      std::string_view(*data).substr(0, std::min(kImageHeaderChars, data->size() & ~std::size_t{3}));
  const auto bytes = base64_decode(head);
  if (!bytes) return kImageTokens;
  const auto [w, h] = image_size(*bytes);
  if (w == 0 || h == 0 || w > 1'000'000 || h > 1'000'000) return kImageTokens;
  return std::min(kImageTokens, (w * h + 749) / 750);
}

std::uint64_t walk_tokens(const json& j);

std::uint64_t document_tokens(const json& source) {
  const std::string type = string_field(source, "type");
  const json* data = field(source, "data");
  if (type == "text" && data != nullptr && data->is_string()) return text_tokens(data->get_ref<const std::string&>());
  if (type == "content") {
    const json* content = field(source, "content");
    return content != nullptr ? walk_tokens(*content) : 0;
  }
  if (type != "base64" || data == nullptr || !data->is_string()) return 20 * kPageTokens;
  const auto bytes = base64_decode(data->get_ref<const std::string&>());
  if (!bytes) return 20 * kPageTokens;
  std::uint64_t pages = 0;
  for (std::size_t at = bytes->find("/Type"); at != std::string::npos; at = bytes->find("/Type", at + 5)) {
    std::size_t p = at + 5;
    while (p < bytes->size() && ((*bytes)[p] == ' ' || (*bytes)[p] == '\n' || (*bytes)[p] == '\r')) ++p;
    if (bytes->compare(p, 5, "/Page") == 0 && (p + 5 >= bytes->size() || (*bytes)[p + 5] != 's')) ++pages;
  }
  if (pages == 0) pages = bytes->size() / 20'000 + 1;
  return pages * kPageTokens;
}

// Every string, key and scalar of `j` as text; image and document blocks by their own terms.
std::uint64_t walk_tokens(const json& j) {
  switch (j.type()) {
    case json::value_t::string: return text_tokens(j.get_ref<const std::string&>());
    case json::value_t::array: {
      std::uint64_t n = 0;
      for (const auto& e : j) n = add(n, walk_tokens(e));
      return n;
    }
    case json::value_t::object: {
      const std::string type = string_field(j, "type");
      const json* source = field(j, "source");
      if (source != nullptr && source->is_object() && (type == "image" || type == "document")) {
        std::uint64_t n = 8 + (type == "image" ? image_tokens(*source) : document_tokens(*source));
        for (const auto& [key, value] : j.items()) {
          if (key != "source") n = add(n, add(text_tokens(key), walk_tokens(value)));
        }
        return n;
      }
      std::uint64_t n = 0;
      for (const auto& [key, value] : j.items()) {
        if (key == "signature") continue;
        n = add(n, add(text_tokens(key), walk_tokens(value)));
      }
      return n;
    }
    case json::value_t::discarded: return 0;
    default: return 4;
  }
}

}  // namespace

std::uint64_t estimate_input_tokens(const nlohmann::json& request) {
  std::uint64_t n = 32;
  if (const json* system = field(request, "system")) n = add(n, walk_tokens(*system));
  if (const json* messages = field(request, "messages"); messages != nullptr && messages->is_array()) {
    for (const auto& m : *messages) {
      n = add(n, 8 + walk_tokens(m));
      const json* content = field(m, "content");
      if (content != nullptr && content->is_array()) n = add(n, 8 * content->size());
    }
  }
  if (const json* tools = field(request, "tools"); tools != nullptr && tools->is_array() && !tools->empty()) {
    n = add(n, 400 + 16 * tools->size());
    n = add(n, walk_tokens(*tools));
  }
  return n;
}

}  // namespace signgate::api::anthropic
