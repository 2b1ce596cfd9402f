#include "api/openai/chat.h"
#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/json_scan.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>

namespace signgate::api::openai {

using nlohmann::json;

namespace {

// A text-only content (string or array of text parts) → its text; nullopt if another part type.
std::optional<std::string> plain_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return std::nullopt;
  std::string out;
  for (const auto& part : content) {
    if (!part.is_object() || string_field(part, "type") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return std::nullopt;
    }
    out += part["text"].get<std::string>();
  }
  return out;
}

std::variant<json, ApiError> image_block(const json& part, const std::string& param) {
  const json& image = part.contains("image_url") ? part["image_url"] : json();
  const std::string url = image.is_object()   ? string_field(image, "url")
                          : image.is_string() ? image.get<std::string>()
                                              : "";
  return image_from_data_url(url, param + ".image_url");
}

std::variant<json, ApiError> user_content(const json& content, const std::string& param) {
  if (content.is_string()) return json::array({{{"text", content.get<std::string>()}}});
  if (!content.is_array()) return bad("content must be a string or an array of parts", param);
  json blocks = json::array();
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    const std::string type = string_field(part, "type");
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      if (!part["text"].get<std::string>().empty()) blocks.push_back({{"text", part["text"]}});
    } else if (type == "image_url") {
      auto block = image_block(part, p);
      if (auto* e = std::get_if<ApiError>(&block)) return *e;
      blocks.push_back(std::get<json>(block));
    } else {
      return bad("content part type '" + clip(type) + "' is not supported (text, image_url)", p + ".type");
    }
    if (auto e = add_cache_point(blocks, part, p)) return *e;
  }
  return blocks;
}

std::optional<ApiError> refuse_unsupported(const json& req) {
  if (req.contains("n") && !req["n"].is_null() && req["n"] != 1) return bad("n other than 1 is not supported", "n");
  if (bool_field(req, "logprobs")) return bad("logprobs are not available from Bedrock", "logprobs");
  if (req.contains("functions")) return bad("functions is deprecated; use tools", "functions");
  if (req.contains("audio") || req.contains("modalities")) return bad("audio output is not supported", "modalities");
  if (req.contains("logit_bias") && req["logit_bias"].is_object() && !req["logit_bias"].empty()) {
    return bad("logit_bias is not supported", "logit_bias");
  }
  for (const char* penalty : {"presence_penalty", "frequency_penalty"}) {
    if (req.contains(penalty) && req[penalty].is_number() && req[penalty].get<double>() != 0.0) {
      return bad(std::string(penalty) + " is not supported by Converse", penalty);
    }
  }
  return std::nullopt;
}

}  // namespace

std::variant<ChatRequest, ApiError> to_converse(std::string_view body,
                                                const std::map<std::string, std::string>& aliases, int max_depth,
                                                const std::map<std::string, std::string>* families) {
  auto read = read_object(body, max_depth);
  if (auto* e = std::get_if<ApiError>(&read)) return *e;
  const json& req = std::get<json>(read);
  if (auto refused = refuse_unsupported(req)) return *refused;

  ChatRequest out;
  if (!req.contains("model") || !req["model"].is_string() || req["model"].get<std::string>().empty()) {
    return bad("model is required", "model");
  }
  out.model_name = req["model"].get<std::string>();
  const auto alias = aliases.find(out.model_name);
  out.model_id = alias != aliases.end() ? alias->second : out.model_name;
  out.family = family_of(families, out.model_id);
  if (!req.contains("messages") || !req["messages"].is_array() || req["messages"].empty()) {
    return bad("messages must be a non-empty array", "messages");
  }

  json system = json::array();
  json messages = json::array();
  const json& in = req["messages"];
  for (std::size_t i = 0; i < in.size(); ++i) {
    const json& m = in[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad("each message needs a role", p + ".role");
    const std::string& role = m["role"].get_ref<const std::string&>();
    static const json kNoContent;
    const json* given = field(m, "content");
    const json& content = given != nullptr ? *given : kNoContent;
    if (role == "system" || role == "developer") {
      auto text = plain_text(content);
      if (!text) return bad("system messages take text only", p + ".content");
      if (!text->empty()) system.push_back({{"text", *text}});
      if (content.is_array() && !content.empty()) {
        if (auto e =
                add_cache_point(system, content.back(), p + ".content[" + std::to_string(content.size() - 1) + "]"))
          return *e;
      }
      if (auto e = add_cache_point(system, m, p)) return *e;
    } else if (role == "user") {
      auto blocks = user_content(content, p + ".content");
      if (auto* e = std::get_if<ApiError>(&blocks)) return *e;
      if (auto e = add_cache_point(std::get<json>(blocks), m, p)) return *e;
      append_message(messages, "user", std::get<json>(std::move(blocks)));
    } else if (role == "assistant") {
      json blocks = json::array();
      auto text = plain_text(content);
      if (!text) return bad("assistant content must be text", p + ".content");
      if (!text->empty()) blocks.push_back({{"text", *text}});
      if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
        for (std::size_t k = 0; k < m["tool_calls"].size(); ++k) {
          const json& call = m["tool_calls"][k];
          const std::string cp = p + ".tool_calls[" + std::to_string(k) + "]";
          if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
            return bad("tool_calls entries need a function", cp);
          }
          const json& fn = call["function"];
          json input = json::object();
          if (fn.contains("arguments") && fn["arguments"].is_string() && !fn["arguments"].get<std::string>().empty()) {
            input = parse_json(fn["arguments"].get<std::string>(), max_depth);
            if (input.is_discarded() || !input.is_object()) {
              return bad("function.arguments must be a JSON object in a string", cp + ".function.arguments");
            }
          }
          blocks.push_back(
              {{"toolUse",
                {{"toolUseId", string_field(call, "id")}, {"name", string_field(fn, "name")}, {"input", input}}}});
        }
      }
      if (blocks.empty()) continue;  // an empty assistant turn says nothing
      if (auto e = add_cache_point(blocks, m, p)) return *e;
      append_message(messages, "assistant", std::move(blocks));
    } else if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
        return bad("tool messages need tool_call_id", p + ".tool_call_id");
      auto text = plain_text(content);
      if (!text) return bad("tool results take text", p + ".content");
      json blocks = json::array(
          {{{"toolResult", {{"toolUseId", m["tool_call_id"]}, {"content", json::array({{{"text", *text}}})}}}}});
      if (auto e = add_cache_point(blocks, m, p)) return *e;
      append_message(messages, "user", std::move(blocks));
    } else {
      return bad("role '" + clip(role) + "' is not supported (system, developer, user, assistant, tool)", p + ".role");
    }
  }
  if (messages.empty()) return bad("messages need at least one user message", "messages");

  json& c = out.converse;
  c["messages"] = std::move(messages);
  if (!system.empty()) c["system"] = std::move(system);
  json inference = json::object();
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (req.contains(key) && !req[key].is_null()) {
      if (!req[key].is_number_integer() || req[key].get<long long>() < 1)
        return bad(std::string(key) + " must be a positive integer", key);
      inference["maxTokens"] = req[key];
      break;
    }
  }
  if (req.contains("temperature") && req["temperature"].is_number()) inference["temperature"] = req["temperature"];
  if (req.contains("top_p") && req["top_p"].is_number()) inference["topP"] = req["top_p"];
  if (req.contains("stop") && !req["stop"].is_null()) {
    if (req["stop"].is_string()) {
      inference["stopSequences"] = json::array({req["stop"]});
    } else if (req["stop"].is_array()) {
      inference["stopSequences"] = req["stop"];
    } else {
      return bad("stop must be a string or an array of strings", "stop");
    }
  }
  if (!inference.empty()) c["inferenceConfig"] = std::move(inference);

  const bool tools_off = req.contains("tool_choice") && req["tool_choice"] == "none";
  if (req.contains("tools") && req["tools"].is_array() && !req["tools"].empty()) {
    json tools = json::array();
    for (std::size_t i = 0; i < req["tools"].size(); ++i) {
      const json& t = req["tools"][i];
      const std::string p = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || string_field(t, "type") != "function" || !t.contains("function") ||
          !t["function"].is_object() || !t["function"].contains("name")) {
        return bad("only function tools are supported", p);
      }
      const json& fn = t["function"];
      tools.push_back(
          tool_spec(fn["name"], field(fn, "description"), field(fn, "parameters"), bool_field(fn, "strict")));
      if (auto e = add_cache_point(tools, t, p)) return *e;
    }
    json config = {{"tools", std::move(tools)}};
    if (req.contains("tool_choice") && !tools_off) {
      const json& choice = req["tool_choice"];
      if (choice == "auto") {
        config["toolChoice"] = {{"auto", json::object()}};
      } else if (choice == "required") {
        config["toolChoice"] = {{"any", json::object()}};
      } else if (choice.is_object() && choice.contains("function") && choice["function"].is_object()) {
        config["toolChoice"] = {{"tool", {{"name", string_field(choice["function"], "name")}}}};
      } else {
        return bad("tool_choice must be none, auto, required or a function", "tool_choice");
      }
    }
    c["toolConfig"] = std::move(config);
  }

  out.stream = bool_field(req, "stream");
  if (const json* effort = field(req, "reasoning_effort"); effort != nullptr && !effort->is_null()) {
    if (!effort->is_string()) return bad("reasoning_effort must be a string", "reasoning_effort");
    auto on = apply_reasoning_effort(c, out.family, effort->get<std::string>(), out.stream, "reasoning_effort");
    if (auto* e = std::get_if<ApiError>(&on)) return *e;
    out.thinking = std::get<bool>(on);
  }
  if (const json* format = field(req, "response_format")) {
    auto parsed = json_format(*format, "response_format");
    if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
    if (const auto& f = std::get<std::optional<JsonFormat>>(parsed)) {
      out.forced_tool = apply_json_format(c, out.family, *f, out.thinking).forced_tool;
    }
  }
  if (auto e = finish_converse(c, tools_off && out.forced_tool.empty(), out.thinking)) return *e;
  if (auto tier = read_service_tier(req, out.family)) {
    if (auto* e = std::get_if<ApiError>(&*tier)) return *e;
    out.tier = std::get<ServiceTier>(*tier);
    if (out.tier != ServiceTier::kDefault) c["serviceTier"] = {{"type", tier_name(out.tier)}};
  }
  if (req.contains("stream_options") && req["stream_options"].is_object()) {
    out.include_usage = bool_field(req["stream_options"], "include_usage");
  }
  if (req.contains("user") && req["user"].is_string()) out.user = req["user"].get<std::string>();
  return out;
}

std::string_view finish_reason(std::string_view stop) {
  if (stop == "max_tokens") return "length";
  if (stop == "tool_use") return "tool_calls";
  if (stop == "guardrail_intervened" || stop == "content_filtered") return "content_filter";
  return "stop";  // end_turn, stop_sequence
}

namespace {

namespace dom = simdjson::dom;
// An element looked up by a chain of fields: an error (not an object, no such field) carries on
// through the chain and reads as absent.
using Found = simdjson::simdjson_result<dom::element>;

Found member(const Found& obj, std::string_view key) { return obj.at_key(key); }

bool present(const Found& e) { return e.error() == simdjson::SUCCESS; }

// A string field as nlohmann's string_field read it: absent or not a string → `fallback`.
std::string_view text_of(const Found& obj, std::string_view key, std::string_view fallback = "") {
  std::string_view s;
  return member(obj, key).get_string().get(s) == simdjson::SUCCESS ? s : fallback;
}

// A non-negative integer, else 0 (count_field's rule).
std::uint64_t count_of(const Found& obj, std::string_view key) {
  std::uint64_t u = 0;
  return member(obj, key).get_uint64().get(u) == simdjson::SUCCESS ? u : 0;
}

// A token count as api/usage.h reads one: a non-negative integer up to kMaxTokenCount.
std::optional<std::uint64_t> token_of(const Found& obj, std::string_view key) {
  std::uint64_t u = 0;
  if (member(obj, key).get_uint64().get(u) != simdjson::SUCCESS || u > kMaxTokenCount) return std::nullopt;
  return u;
}

// Converse's TokenUsage as converse_usage() reads it, from simdjson's DOM.
TokenUsage converse_usage_of(const Found& usage) {
  TokenUsage u;
  u.input = token_of(usage, "inputTokens");
  u.output = token_of(usage, "outputTokens");
  u.cache_read = token_of(usage, "cacheReadInputTokens");
  u.cache_write = token_of(usage, "cacheWriteInputTokens");
  dom::array details;
  if (member(usage, "cacheDetails").get_array().get(details) == simdjson::SUCCESS) {
    for (const dom::element d : details) {
      const Found detail(dom::element{d});
      const auto n = token_of(detail, "inputTokens");
      if (text_of(detail, "ttl") == "1h" && n)
        u.cache_write_1h = std::min(u.cache_write_1h.value_or(0) + *n, kMaxTokenCount);
    }
  }
  return u;
}

// An object with at least one field (what nlohmann's object_field(...).empty() was false for).
bool non_empty_object(const Found& e) {
  dom::object o;
  return e.get_object().get(o) == simdjson::SUCCESS && o.size() > 0;
}

// The element as compact JSON text (the tool's input, as a string argument or the answer).
std::string compact(const Found& e) {
  dom::element v;
  return e.get(v) == simdjson::SUCCESS ? simdjson::minify(v) : std::string("{}");
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void append_signed(std::string& out, std::int64_t n) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void append_usage(std::string& out, const Usage& u) {
  out += "{\"prompt_tokens\":";
  append_number(out, u.input);
  out += ",\"completion_tokens\":";
  append_number(out, u.output);
  out += ",\"total_tokens\":";
  append_number(out, u.input + u.output);
  if (u.cache_read != 0 || u.cache_write != 0) {
    out += ",\"prompt_tokens_details\":{\"cached_tokens\":";
    append_number(out, u.cache_read);
    // As other gateways report Bedrock's and Anthropic's cache, beside OpenAI's fields.
    out += "},\"cache_read_input_tokens\":";
    append_number(out, u.cache_read);
    out += ",\"cache_creation_input_tokens\":";
    append_number(out, u.cache_write);
  }
  out += '}';
}

}  // namespace

json usage_json(const Usage& u) {
  std::string text;
  append_usage(text, u);
  return json::parse(text);
}

std::optional<Completion> completion_from_converse(std::string_view answer, const ChatRequest& request,
                                                   std::string_view id, std::int64_t created, int max_depth) {
  if (!within_depth(answer, max_depth)) return std::nullopt;
  dom::parser once;
  dom::parser* parser = ready_parser(once, answer.size(), max_depth);
  if (parser == nullptr) return std::nullopt;
  Found root = parser->parse(answer.data(), answer.size(), true);
  std::string normalised;
  if (root.error() == simdjson::NUMBER_ERROR) {
    // Valid JSON simdjson refuses: an integer beyond 64 bits (in a tool's input, say). Read as
    // nlohmann reads it (a double), then from its text, as the answer was before simdjson.
    const nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    normalised = dump_json(j);
    // `once`, never the kept one: the text may be longer than the answer, and the kept
    // parser stays within kKeptParserBytes.
    parser = able_to_nest(once, normalised.size(), max_depth);
    if (parser == nullptr) return std::nullopt;
    root = parser->parse(normalised.data(), normalised.size(), true);
  }
  if (!root.is_object()) return std::nullopt;
  // `root` may live in the thread's kept parser: nothing below parses with it.
  Completion out;
  const Found usage = member(root, "usage");
  if (usage.is_object()) out.usage = converse_usage_of(usage);
  const Found content = member(member(member(root, "output"), "message"), "content");
  dom::array blocks;
  const bool has_blocks = content.get_array().get(blocks) == simdjson::SUCCESS;

  // The text: every text block, or the forced tool's input (the JSON answer asked for).
  std::string text, reasoning, tool_calls;
  bool forced_found = false, called_tools = false;
  if (has_blocks) {
    for (const dom::element element : blocks) {
      const Found block(dom::element{element});
      if (!request.forced_tool.empty() && !forced_found) {
        const Found use = member(block, "toolUse");
        if (text_of(use, "name") == request.forced_tool && present(member(use, "input"))) {
          text = compact(member(use, "input"));
          forced_found = true;
        }
      }
      if (!forced_found) {
        std::string_view t;
        if (member(block, "text").get_string().get(t) == simdjson::SUCCESS) text += t;
      }
      std::string_view thought;
      if (member(member(member(block, "reasoningContent"), "reasoningText"), "text").get_string().get(thought) ==
          simdjson::SUCCESS) {
        reasoning += thought;
      }
      const Found use = member(block, "toolUse");
      if (!non_empty_object(use) || (!request.forced_tool.empty() && text_of(use, "name") == request.forced_tool)) {
        continue;
      }
      tool_calls += called_tools ? ",{\"id\":" : "{\"id\":";
      called_tools = true;
      append_json_string(tool_calls, text_of(use, "toolUseId"));
      tool_calls += ",\"type\":\"function\",\"function\":{\"name\":";
      append_json_string(tool_calls, text_of(use, "name"));
      tool_calls += ",\"arguments\":";
      append_json_string(tool_calls, compact(member(use, "input")));
      tool_calls += "}}";
    }
  }
  std::string_view finish = finish_reason(text_of(root, "stopReason", "end_turn"));
  if (finish == "tool_calls" && !called_tools) finish = "stop";  // the forced JSON tool: an answer

  std::string& body = out.body;
  body.reserve(256 + text.size() + reasoning.size() + tool_calls.size());
  body += "{\"id\":";
  append_json_string_checked(body, id);
  body += ",\"object\":\"chat.completion\",\"created\":";
  append_signed(body, created);
  body += ",\"model\":";
  append_json_string_checked(body, request.model_name);
  body += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  if (text.empty() && called_tools) {
    body += "null";
  } else {
    append_json_string(body, text);
  }
  if (!reasoning.empty()) {
    body += ",\"reasoning_content\":";
    append_json_string(body, reasoning);
  }
  if (called_tools) {
    body += ",\"tool_calls\":[";
    body += tool_calls;
    body += ']';
  }
  body += "},\"logprobs\":null,\"finish_reason\":";
  append_json_string(body, finish);
  body += "}],\"service_tier\":";
  std::string_view tier;
  if (member(member(root, "serviceTier"), "type").get_string().get(tier) == simdjson::SUCCESS && tier_word(tier)) {
    out.service_tier = std::string(tier);
  } else {
    out.service_tier = std::string(tier_name(request.tier));
  }
  append_json_string(body, out.service_tier);
  body += ",\"usage\":";
  Usage u;
  if (usage.is_object()) {
    u.known = true;
    u.cache_read = count_of(usage, "cacheReadInputTokens");
    u.cache_write = count_of(usage, "cacheWriteInputTokens");
    u.input = count_of(usage, "inputTokens") + u.cache_read + u.cache_write;
    u.output = count_of(usage, "outputTokens");
  }
  append_usage(body, u);
  body += '}';
  return out;
}

}  // namespace signgate::api::openai
