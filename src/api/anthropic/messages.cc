#include "api/anthropic/messages.h"

#include <algorithm>

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/json_scan.h"
#include "api/service_tier.h"
#include "aws/scrub_identity.h"
#include "common/base64.h"

namespace signgate::api::anthropic {

using nlohmann::json;

json error_body(const ApiError& e) {
  return {{"type", "error"}, {"error", {{"type", e.type}, {"message", e.message}}}};
}

std::string error_type_for(unsigned status) {
  switch (status) {
    case 400:
    case 405:
    case 408:
    case 431: return "invalid_request_error";
    case 413: return "request_too_large";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return "api_error";
  }
}

namespace {

const std::set<std::string>& accepted_betas(const Betas& betas, std::string_view model_id) {
  static const BetaPolicy kDefault;
  return (betas.policy != nullptr ? *betas.policy : kDefault).accepted(model_id);
}

// Anthropic's service_tier taken out of the body: Bedrock's tier to ask for ("" for its default).
std::variant<std::string, ApiError> take_service_tier(json& req) {
  const auto it = req.find("service_tier");
  if (it == req.end()) return std::string();
  const std::string tier = it->is_string() ? it->get<std::string>() : std::string("?");
  req.erase(it);
  if (tier == "auto" || tier == "standard_only") return std::string();
  if (tier == "priority" || tier == "flex") return tier;
  return ApiError{400, "invalid_request_error", "service_tier: must be auto, standard_only, priority or flex"};
}

// The checks /v1/messages and count_tokens share: a JSON object with a model and messages.
std::variant<json, ApiError> read_request(std::string_view body, int max_depth) {
  bool too_deep = false;
  json req = parse_json(body, max_depth, &too_deep);
  if (too_deep)
    return ApiError{400, "invalid_request_error",
                    "the body nests deeper than " + std::to_string(max_depth) + " levels"};
  if (req.is_discarded() || !req.is_object())
    return ApiError{400, "invalid_request_error", "the body is not a JSON object"};
  if (!req.contains("model") || !req["model"].is_string() || req["model"].get<std::string>().empty()) {
    return ApiError{400, "invalid_request_error", "model: field required"};
  }
  if (!req.contains("messages") || !req["messages"].is_array()) {
    return ApiError{400, "invalid_request_error", "messages: field required"};
  }
  return req;
}

// Bedrock's Messages take only user and assistant turns. A client that expects Anthropic's
// mid-conversation system messages (Claude Code does, with its beta) would be refused: unless
// the operator forwards that beta, each such message's text joins the next user turn (or the
// previous one, or becomes a user turn of its own), so the instruction still reaches the model.
void fold_system_messages(json& req) {
  if (const auto betas = req.find("anthropic_beta"); betas != req.end() && betas->is_array()) {
    for (const auto& b : *betas) {
      if (b.is_string() && b.get_ref<const std::string&>().rfind("mid-conversation-system", 0) == 0) return;
    }
  }
  json& messages = req["messages"];
  const auto role_is = [](const json& m, std::string_view role) {
    if (!m.is_object()) return false;
    const auto r = m.find("role");
    return r != m.end() && r->is_string() && r->get_ref<const std::string&>() == role;
  };
  const auto is_system = [&](const json& m) { return role_is(m, "system"); };
  if (std::none_of(messages.begin(), messages.end(), is_system)) return;
  const auto blocks_of = [](const json& content) {
    if (content.is_string()) return json::array({{{"type", "text"}, {"text", content}}});
    return content.is_array() ? content : json::array();
  };
  json out = json::array();
  json pending = json::array();  // system text waiting for the next user turn
  for (auto& m : messages) {
    if (is_system(m)) {
      for (auto& b : blocks_of(m.value("content", json()))) pending.push_back(std::move(b));
      continue;
    }
    if (!pending.empty() && role_is(m, "user")) {
      json content = blocks_of(m.value("content", json()));
      for (auto& b : pending) content.push_back(std::move(b));
      m["content"] = std::move(content);
      pending = json::array();
    } else if (!pending.empty()) {
      out.push_back({{"role", "user"}, {"content", std::move(pending)}});
      pending = json::array();
    }
    out.push_back(std::move(m));
  }
  if (!pending.empty()) {
    if (!out.empty() && role_is(out.back(), "user")) {
      json content = blocks_of(out.back().value("content", json()));
      for (auto& b : pending) content.push_back(std::move(b));
      out.back()["content"] = std::move(content);
    } else {
      out.push_back({{"role", "user"}, {"content", std::move(pending)}});
    }
  }
  messages = std::move(out);
}

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

namespace {

std::string model_id_for(const std::string& name, const std::map<std::string, std::string>& aliases) {
  const auto alias = aliases.find(name);
  return alias != aliases.end() ? alias->second : name;
}

}  // namespace

std::variant<MessagesRequest, ApiError> to_invoke(std::string_view body,
                                                  const std::map<std::string, std::string>& aliases, int max_depth,
                                                  const Betas& betas) {
  auto read = read_request(body, max_depth);
  if (auto* e = std::get_if<ApiError>(&read)) return *e;
  json& req = std::get<json>(read);
  if (!req.contains("max_tokens") || !req["max_tokens"].is_number_integer()) {
    return ApiError{400, "invalid_request_error", "max_tokens: field required"};
  }
  MessagesRequest out;
  out.model_name = req["model"].get<std::string>();
  out.model_id = model_id_for(out.model_name, aliases);
  out.stream = bool_field(req, "stream");
  req.erase("model");
  req.erase("stream");
  auto tier = take_service_tier(req);
  if (auto* e = std::get_if<ApiError>(&tier)) return *e;
  out.service_tier = std::move(std::get<std::string>(tier));
  // A tier the model lacks on Bedrock (Claude has Priority and Flex nowhere yet) is the default
  // tier, as on the OpenAI surfaces: the answer's usage.service_tier says "standard".
  if (!out.service_tier.empty() &&
      !tier_available(out.model_id, out.service_tier == "priority" ? ServiceTier::kPriority : ServiceTier::kFlex)) {
    out.service_tier.clear();
  }
  if (!req.contains("anthropic_version")) req["anthropic_version"] = "bedrock-2023-05-31";
  out.dropped_betas = apply_betas(req, betas.requested, accepted_betas(betas, out.model_id));
  fold_system_messages(req);
  out.bedrock_body = dump_json(req);
  return out;
}

std::variant<CountTokensRequest, ApiError> to_count_tokens(std::string_view body,
                                                           const std::map<std::string, std::string>& aliases,
                                                           int max_depth, const Betas& betas) {
  auto read = read_request(body, max_depth);
  if (auto* e = std::get_if<ApiError>(&read)) return *e;
  json& req = std::get<json>(read);
  CountTokensRequest out;
  out.model_name = req["model"].get<std::string>();
  out.model_id = model_id_for(out.model_name, aliases);
  req.erase("model");
  req.erase("stream");
  if (auto tier = take_service_tier(req); std::holds_alternative<ApiError>(tier)) return std::get<ApiError>(tier);
  out.estimate = estimate_input_tokens(req);
  if (!req.contains("anthropic_version")) req["anthropic_version"] = "bedrock-2023-05-31";
  if (!req.contains("max_tokens")) {
    // InvokeModel wants max_tokens above any thinking budget; counting input ignores it.
    std::int64_t max_tokens = 1;
    if (auto t = req.find("thinking"); t != req.end() && t->is_object()) {
      if (auto b = t->find("budget_tokens"); b != t->end() && b->is_number_integer()) {
        // Clamped: a budget near INT64_MAX must not overflow (Bedrock refuses such budgets anyway).
        max_tokens = std::clamp<std::int64_t>(b->get<std::int64_t>(), 0, 1'000'000'000) + 1;
      }
    }
    req["max_tokens"] = max_tokens;
  }
  out.dropped_betas = apply_betas(req, betas.requested, accepted_betas(betas, out.model_id));
  fold_system_messages(req);
  const std::string invoke_body = dump_json(req);
  out.bedrock_body = R"({"input":{"invokeModel":{"body":")" + base64_encode(invoke_body) + R"("}}})";
  return out;
}

std::optional<std::string> from_count_tokens(std::string_view answer) {
  const json j = parse_json(answer, 8);
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("inputTokens");
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return R"({"input_tokens":)" + std::to_string(it->get<std::uint64_t>()) + "}";
}

std::string profile_model(std::string_view model_id) {
  // Bedrock's geographic prefixes: us, eu, apac, jp, au, ca, us-gov, global, ...
  const auto dot = model_id.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 8) return std::string(model_id);
  const std::string_view geo = model_id.substr(0, dot);
  if (!std::all_of(geo.begin(), geo.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; })) {
    return std::string(model_id);
  }
  const std::string_view rest = model_id.substr(dot + 1);
  const auto provider = rest.find('.');
  if (provider == std::string_view::npos || rest.substr(0, provider) == geo) return std::string(model_id);
  // "anthropic.claude-..." has a provider then a model; "amazon.titan-..." is no profile.
  static constexpr std::string_view kProviders[] = {"anthropic", "amazon", "meta", "mistral", "deepseek",
                                                    "cohere",    "openai", "qwen", "writer",  "twelvelabs"};
  for (const std::string_view p : kProviders) {
    if (p == geo) return std::string(model_id);
  }
  return std::string(rest);
}

bool counting_unsupported(unsigned status, std::string_view error_type, std::string_view body) {
  if (status != 400 || error_type.substr(0, error_type.find(':')) != "ValidationException") return false;
  const json j = parse_json(body, 8);
  const json* message = field(j, "message");
  return message != nullptr && message->is_string() &&
         message->get_ref<const std::string&>().find("support counting tokens") != std::string::npos;
}

std::string_view anthropic_service_tier(std::string_view bedrock_tier) {
  return bedrock_tier.empty() || bedrock_tier == "default" ? std::string_view("standard") : bedrock_tier;
}

std::string with_service_tier(std::string answer, std::string_view tier, int max_depth) {
  json j = parse_json(answer, max_depth);
  if (!j.is_object()) return answer;
  const auto usage = j.find("usage");
  if (usage == j.end() || !usage->is_object()) return answer;
  (*usage)["service_tier"] = tier;
  return dump_json(j);
}

std::string EventUnwrapper::on_message(const aws::eventstream::Message& m) {
  const std::string* message_type = m.string_header(":message-type");
  if (message_type != nullptr && *message_type != "event") {
    const std::string* kind = m.string_header(":exception-type");
    const json payload = parse_json(m.payload, max_depth);
    const std::string text = payload.is_object() && payload.contains("message") && payload["message"].is_string()
                                 ? payload["message"].get<std::string>()
                                 : m.payload;
    // Bedrock's words may name signgate's AWS identity (an ARN, an account): not the caller's.
    return error((kind != nullptr ? *kind + ": " : std::string()) + aws::scrub_identity(text));
  }
  const auto bytes = scan_string(m.payload, "bytes");
  if (!bytes) return {};
  const auto inner_text = base64_decode(*bytes);
  if (!inner_text) return error("a stream chunk was not valid base64");
  // Most events pass through as Bedrock wrote them: only the type is read. One on a line of
  // its own, and the last one (which carries Bedrock's metrics), are parsed and rewritten.
  if (inner_text->find_first_of("\r\n") == std::string::npos &&
      inner_text->find("amazon-bedrock-invocationMetrics") == std::string::npos) {
    // message_start is rewritten when it is to say the service tier.
    if (auto type = scan_string(*inner_text, "type"); type && type->find_first_of("\r\n") == std::string::npos &&
                                                      (service_tier.empty() || *type != "message_start")) {
      std::string out;
      out.reserve(type->size() + inner_text->size() + 16);
      out.append("event: ").append(*type).append("\ndata: ").append(*inner_text).append("\n\n");
      if (input_tokens == 0 && *type == "message_start") {
        // The input, known from the first event: what a stream its caller left is charged.
        const json start = parse_json(*inner_text, max_depth);
        const json* message = field(start, "message");
        const json* usage = message != nullptr ? field(*message, "usage") : nullptr;
        if (usage != nullptr) input_tokens = count_field(*usage, "input_tokens", input_tokens);
      }
      return out;
    }
  }
  bool too_deep = false;
  json event = parse_json(*inner_text, max_depth, &too_deep);
  if (too_deep) return error("a stream event nests deeper than " + std::to_string(max_depth) + " levels");
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) return {};
  if (event.contains("amazon-bedrock-invocationMetrics")) {
    const json& metrics = event["amazon-bedrock-invocationMetrics"];
    input_tokens = count_field(metrics, "inputTokenCount", input_tokens);
    output_tokens = count_field(metrics, "outputTokenCount", output_tokens);
    event.erase("amazon-bedrock-invocationMetrics");  // Bedrock's, not part of Anthropic's event
  }
  const std::string type = event["type"].get<std::string>();
  if (type.find_first_of("\r\n") != std::string::npos) return {};  // would inject SSE lines
  if (type == "message_start") {
    const auto message = event.find("message");
    if (message != event.end() && message->is_object()) {
      const auto usage = message->find("usage");
      if (usage != message->end() && usage->is_object()) {
        if (input_tokens == 0) input_tokens = count_field(*usage, "input_tokens", input_tokens);
        if (!service_tier.empty()) (*usage)["service_tier"] = service_tier;
      }
    }
  }
  return "event: " + type + "\ndata: " + dump_json(event) + "\n\n";
}

std::string EventUnwrapper::error(std::string_view message) {
  return "event: error\ndata: " +
         dump_json(json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}) + "\n\n";
}

}  // namespace signgate::api::anthropic
