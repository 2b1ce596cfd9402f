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
      if (*type == "message_start" || *type == "message_delta") read_usage(parse_json(*inner_text, max_depth));
      return out;
    }
  }
  bool too_deep = false;
  json event = parse_json(*inner_text, max_depth, &too_deep);
  if (too_deep) return error("a stream event nests deeper than " + std::to_string(max_depth) + " levels");
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) return {};
  read_usage(event);
  if (event.contains("amazon-bedrock-invocationMetrics")) {
    event.erase("amazon-bedrock-invocationMetrics");  // Bedrock's, not part of Anthropic's event
  }
  const std::string type = event["type"].get<std::string>();
  if (type.find_first_of("\r\n") != std::string::npos) return {};  // would inject SSE lines
  if (type == "message_start") {
    const auto message = event.find("message");
    if (message != event.end() && message->is_object()) {
      const auto said = message->find("usage");
      if (said != message->end() && said->is_object() && !service_tier.empty()) (*said)["service_tier"] = service_tier;
    }
  }
  return "event: " + type + "\ndata: " + dump_json(event) + "\n\n";
}

void EventUnwrapper::read_usage(const json& event) {
  const std::string type = string_field(event, "type");
  if (type == "message_start") {
    // The input and the cache, known from the first event: what a stream its caller left is
    // charged; the 1-hour share of the writes is said only here.
    usage.update(anthropic_usage(object_field(object_field(event, "message"), "usage")));
  } else if (type == "message_delta") {
    // Its output so far; the input it may repeat is the start's.
    if (auto output = anthropic_usage(object_field(event, "usage")).output) usage.output = output;
  }
  if (const json* metrics = field(event, "amazon-bedrock-invocationMetrics"))
    usage.update(invocation_metrics(*metrics));
  input_tokens = usage.input.value_or(0);
  output_tokens = usage.output.value_or(0);
}

std::string EventUnwrapper::error(std::string_view message) {
  return "event: error\ndata: " +
         dump_json(json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}) + "\n\n";
}

}  // namespace signgate::api::anthropic
