#include "api/openai/chat.h"
#include "api/json_depth.h"
#include "api/json_fields.h"

namespace signgate::api::openai {

using nlohmann::json;

namespace {

ApiError bad(std::string message, std::string param) {
  return ApiError{400, "invalid_request_error", std::move(message), std::move(param), {}};
}

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

// "data:image/png;base64,AAAA" → {"image":{"format":"png","source":{"bytes":"AAAA"}}}.
std::variant<json, ApiError> image_block(const json& part, const std::string& param) {
  const json& image = part.contains("image_url") ? part["image_url"] : json();
  const std::string url = image.is_object()   ? string_field(image, "url")
                          : image.is_string() ? image.get<std::string>()
                                              : "";
  constexpr std::string_view kPrefix = "data:image/";
  const auto comma = url.find(";base64,");
  if (url.rfind(kPrefix, 0) != 0 || comma == std::string::npos) {
    return bad("only base64 data: URLs are supported for images (Bedrock does not fetch URLs)", param + ".image_url");
  }
  std::string format = url.substr(kPrefix.size(), comma - kPrefix.size());
  if (format == "jpg") format = "jpeg";
  if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
    return bad("image format " + format + " is not supported (png, jpeg, gif, webp)", param + ".image_url");
  }
  return json{{"image", {{"format", format}, {"source", {{"bytes", url.substr(comma + 8)}}}}}};
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
      blocks.push_back({{"text", part["text"]}});
    } else if (type == "image_url") {
      auto block = image_block(part, p);
      if (auto* e = std::get_if<ApiError>(&block)) return *e;
      blocks.push_back(std::get<json>(block));
    } else {
      return bad("content part type '" + type + "' is not supported (text, image_url)", p + ".type");
    }
  }
  return blocks;
}

// Converse wants alternating roles: consecutive messages of one role become one.
void append_message(json& messages, const std::string& role, json blocks) {
  if (!messages.empty() && messages.back()["role"] == role) {
    for (auto& b : blocks) messages.back()["content"].push_back(std::move(b));
    return;
  }
  messages.push_back({{"role", role}, {"content", std::move(blocks)}});
}

std::optional<ApiError> refuse_unsupported(const json& req) {
  if (req.contains("n") && !req["n"].is_null() && req["n"] != 1) return bad("n other than 1 is not supported", "n");
  if (bool_field(req, "logprobs")) return bad("logprobs are not available from Bedrock", "logprobs");
  if (req.contains("functions")) return bad("functions is deprecated; use tools", "functions");
  if (req.contains("audio") || req.contains("modalities")) return bad("audio output is not supported", "modalities");
  if (req.contains("response_format") && req["response_format"].is_object() &&
      string_field(req["response_format"], "type", "text") != "text") {
    return bad("response_format other than text is not supported", "response_format");
  }
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

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

std::variant<ChatRequest, ApiError> to_converse(std::string_view body,
                                                const std::map<std::string, std::string>& aliases, int max_depth) {
  bool too_deep = false;
  const json req = parse_json(body, max_depth, &too_deep);
  if (too_deep) return bad("the body nests deeper than " + std::to_string(max_depth) + " levels", "");
  if (req.is_discarded()) return bad("the body is not valid JSON", "");
  if (!req.is_object()) return bad("the body must be a JSON object", "");
  if (auto refused = refuse_unsupported(req)) return *refused;

  ChatRequest out;
  if (!req.contains("model") || !req["model"].is_string() || req["model"].get<std::string>().empty()) {
    return bad("model is required", "model");
  }
  out.model_name = req["model"].get<std::string>();
  const auto alias = aliases.find(out.model_name);
  out.model_id = alias != aliases.end() ? alias->second : out.model_name;
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
    const std::string role = m["role"].get<std::string>();
    const json content = m.contains("content") ? m["content"] : json();
    if (role == "system" || role == "developer") {
      auto text = plain_text(content);
      if (!text) return bad("system messages take text only", p + ".content");
      if (!text->empty()) system.push_back({{"text", *text}});
    } else if (role == "user") {
      auto blocks = user_content(content, p + ".content");
      if (auto* e = std::get_if<ApiError>(&blocks)) return *e;
      append_message(messages, "user", std::get<json>(blocks));
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
            input = parse_json(fn["arguments"].get<std::string>(), max_depth, &too_deep);
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
      append_message(messages, "assistant", std::move(blocks));
    } else if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
        return bad("tool messages need tool_call_id", p + ".tool_call_id");
      auto text = plain_text(content);
      if (!text) return bad("tool results take text", p + ".content");
      append_message(
          messages, "user",
          json::array(
              {{{"toolResult", {{"toolUseId", m["tool_call_id"]}, {"content", json::array({{{"text", *text}}})}}}}}));
    } else {
      return bad("role '" + role + "' is not supported (system, developer, user, assistant, tool)", p + ".role");
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
  if (req.contains("tools") && req["tools"].is_array() && !req["tools"].empty() && !tools_off) {
    json tools = json::array();
    for (std::size_t i = 0; i < req["tools"].size(); ++i) {
      const json& t = req["tools"][i];
      const std::string p = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || string_field(t, "type") != "function" || !t.contains("function") ||
          !t["function"].is_object() || !t["function"].contains("name")) {
        return bad("only function tools are supported", p);
      }
      const json& fn = t["function"];
      json spec = {
          {"name", fn["name"]},
          {"inputSchema", {{"json", fn.contains("parameters") ? fn["parameters"] : json{{"type", "object"}}}}}};
      if (fn.contains("description") && fn["description"].is_string()) spec["description"] = fn["description"];
      tools.push_back({{"toolSpec", std::move(spec)}});
    }
    json config = {{"tools", std::move(tools)}};
    if (req.contains("tool_choice")) {
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

json from_converse(const json& answer, const ChatRequest& request, std::string_view id, std::int64_t created) {
  std::string text;
  json tool_calls = json::array();
  const json* content = nullptr;
  if (answer.contains("output") && answer["output"].contains("message") &&
      answer["output"]["message"].contains("content")) {
    content = &answer["output"]["message"]["content"];
  }
  if (content != nullptr && content->is_array()) {
    for (const auto& block : *content) {
      if (block.contains("text") && block["text"].is_string()) text += block["text"].get<std::string>();
      if (block.contains("toolUse") && block["toolUse"].is_object()) {
        const json& use = block["toolUse"];
        tool_calls.push_back({{"id", string_field(use, "toolUseId")},
                              {"type", "function"},
                              {"function",
                               {{"name", string_field(use, "name")},
                                {"arguments", use.contains("input") ? use["input"].dump() : "{}"}}}});
      }
    }
  }
  json message = {{"role", "assistant"}, {"content", text.empty() && !tool_calls.empty() ? json(nullptr) : json(text)}};
  if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
  json usage = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
  if (answer.contains("usage") && answer["usage"].is_object()) {
    const json& u = answer["usage"];
    const auto in = count_field(u, "inputTokens"), outn = count_field(u, "outputTokens");
    usage = {
        {"prompt_tokens", in}, {"completion_tokens", outn}, {"total_tokens", count_field(u, "totalTokens", in + outn)}};
  }
  return {
      {"id", id},
      {"object", "chat.completion"},
      {"created", created},
      {"model", request.model_name},
      {"choices", json::array({{{"index", 0},
                                {"message", std::move(message)},
                                {"logprobs", nullptr},
                                {"finish_reason", finish_reason(string_field(answer, "stopReason", "end_turn"))}}})},
      {"usage", std::move(usage)}};
}

}  // namespace signgate::api::openai
