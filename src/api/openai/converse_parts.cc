#include "api/openai/converse_parts.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "api/json_depth.h"
#include "api/json_fields.h"

namespace signgate::api::openai {

using nlohmann::json;

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

std::variant<json, ApiError> read_object(std::string_view body, int max_depth) {
  bool too_deep = false;
  json req = parse_json(body, max_depth, &too_deep);
  if (too_deep) return bad("the body nests deeper than " + std::to_string(max_depth) + " levels", "");
  if (req.is_discarded()) return bad("the body is not valid JSON", "");
  if (!req.is_object()) return bad("the body must be a JSON object", "");
  return req;
}

std::variant<json, ApiError> image_from_data_url(std::string_view url, const std::string& param) {
  constexpr std::string_view kPrefix = "data:image/";
  const auto comma = url.find(";base64,");
  if (url.substr(0, kPrefix.size()) != kPrefix || comma == std::string_view::npos) {
    return bad("only base64 data: URLs are supported for images (Bedrock does not fetch URLs)", param);
  }
  std::string format(url.substr(kPrefix.size(), comma - kPrefix.size()));
  if (format == "jpg") format = "jpeg";
  if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
    return bad("image format " + format + " is not supported (png, jpeg, gif, webp)", param);
  }
  return json{{"image", {{"format", format}, {"source", {{"bytes", url.substr(comma + 8)}}}}}};
}

std::variant<json, ApiError> document_from_data_url(std::string_view url, std::string_view filename,
                                                    const std::string& param) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"application/pdf", "pdf"},
      {"text/csv", "csv"},
      {"text/html", "html"},
      {"text/plain", "txt"},
      {"text/markdown", "md"},
      {"application/msword", "doc"},
      {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
      {"application/vnd.ms-excel", "xls"},
      {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
  };
  constexpr std::string_view kData = "data:";
  const auto comma = url.find(";base64,");
  if (url.substr(0, kData.size()) != kData || comma == std::string_view::npos) {
    return bad("files must come as base64 data: URLs in file_data (Bedrock reads no file IDs or URLs)", param);
  }
  const std::string_view mime = url.substr(kData.size(), comma - kData.size());
  std::string_view format;
  for (const auto& [type, f] : kTypes) {
    if (mime == type) format = f;
  }
  if (format.empty()) return bad("file type " + std::string(mime) + " is not supported by Converse", param);
  // Converse's document names allow letters, digits, single spaces, hyphens, parentheses, brackets.
  std::string name;
  for (const char ch : filename.substr(0, 200)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '(' || ch == ')' ||
                    ch == '[' || ch == ']';
    const char out = ok ? ch : (ch == ' ' ? ' ' : '-');
    if (out == ' ' && (name.empty() || name.back() == ' ')) continue;
    name.push_back(out);
  }
  while (!name.empty() && name.back() == ' ') name.pop_back();
  if (name.empty()) name = "document";
  return json{{"document", {{"format", format}, {"name", name}, {"source", {{"bytes", url.substr(comma + 8)}}}}}};
}

void append_message(json& messages, const std::string& role, json blocks) {
  if (blocks.empty()) return;
  if (!messages.empty() && string_field(messages.back(), "role") == role) {
    for (auto& b : blocks) messages.back()["content"].push_back(std::move(b));
    return;
  }
  messages.push_back({{"role", role}, {"content", std::move(blocks)}});
}

std::variant<std::optional<json>, ApiError> cache_point(const json& holder, const std::string& param) {
  const json* cc = field(holder, "cache_control");
  if (cc == nullptr || cc->is_null()) return std::optional<json>();
  if (!cc->is_object() || string_field(*cc, "type") != "ephemeral") {
    return bad("cache_control must be {\"type\":\"ephemeral\"} (with an optional ttl of 5m or 1h)",
               param + ".cache_control");
  }
  json point = {{"type", "default"}};
  if (const json* ttl = field(*cc, "ttl"); ttl != nullptr && !ttl->is_null()) {
    if (*ttl != "5m" && *ttl != "1h") return bad("cache_control.ttl must be 5m or 1h", param + ".cache_control.ttl");
    point["ttl"] = *ttl;
  }
  return std::optional<json>(json{{"cachePoint", std::move(point)}});
}

std::optional<ApiError> add_cache_point(json& blocks, const json& holder, const std::string& param) {
  auto point = cache_point(holder, param);
  if (auto* e = std::get_if<ApiError>(&point)) return *e;
  auto& cp = std::get<std::optional<json>>(point);
  if (cp && !blocks.empty() && !blocks.back().contains("cachePoint")) blocks.push_back(std::move(*cp));
  return std::nullopt;
}

std::optional<ApiError> finish_converse(json& c, bool tools_off, bool thinking) {
  bool tool_history = false;
  std::size_t points = 0;
  auto count_points = [&points](const json& list) {
    if (!list.is_array()) return;
    for (const auto& b : list) points += b.contains("cachePoint") ? 1 : 0;
  };
  if (c.contains("messages")) {
    for (auto& m : c["messages"]) {
      json& content = m["content"];
      for (const auto& b : content) tool_history = tool_history || b.contains("toolUse") || b.contains("toolResult");
      if (string_field(m, "role") == "user") {
        std::stable_partition(content.begin(), content.end(), [](const json& b) { return b.contains("toolResult"); });
      }
      count_points(content);
    }
  }
  if (c.contains("system")) count_points(c["system"]);
  if (c.contains("toolConfig")) {
    json& config = c["toolConfig"];
    if (tools_off) {
      if (!tool_history) {
        c.erase("toolConfig");
      } else {
        // Converse has no "none": the tools stay declared (the history names them), unforced.
        config["toolChoice"] = {{"auto", json::object()}};
        c["system"].push_back({{"text", "Answer without calling any tool."}});
      }
    } else if (thinking && config.contains("toolChoice") && !config["toolChoice"].contains("auto")) {
      config["toolChoice"] = {{"auto", json::object()}};
    }
  }
  if (c.contains("toolConfig")) count_points(c["toolConfig"]["tools"]);
  if (points > 4) return bad("at most 4 cache_control breakpoints are allowed (Bedrock's limit)", "cache_control");
  return std::nullopt;
}

std::string clip(std::string_view s, std::size_t n) {
  if (s.size() <= n) return std::string(s);
  s = s.substr(0, n);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.remove_suffix(1);
  if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.remove_suffix(1);
  return std::string(s) + "...";
}

const std::string& family_of(const std::map<std::string, std::string>* families, const std::string& model_id) {
  if (families == nullptr) return model_id;
  const auto it = families->find(model_id);
  return it != families->end() ? it->second : model_id;
}

std::optional<std::variant<ServiceTier, ApiError>> read_service_tier(const json& request, std::string_view family) {
  const json* tier = field(request, "service_tier");
  if (tier == nullptr || tier->is_null()) return std::nullopt;
  const std::string name = tier->is_string() ? tier->get<std::string>() : std::string();
  ServiceTier asked = ServiceTier::kDefault;
  if (name == "priority") {
    asked = ServiceTier::kPriority;
  } else if (name == "flex") {
    asked = ServiceTier::kFlex;
  } else if (name != "auto" && name != "default" && name != "scale") {
    return ApiError{400,
                    "invalid_request_error",
                    "service_tier must be auto, default, flex, scale or priority",
                    "service_tier",
                    {}};
  }
  return tier_for(family, asked);
}

std::string served_tier(const json& holder) {
  const std::string tier = string_field(object_field(holder, "serviceTier"), "type");
  // Bedrock's own names; anything else (a tier it adds later) is passed on only if it is a word.
  if (!tier_word(tier)) return {};
  return tier;
}

json tool_spec(const json& name, const json* description, const json* parameters, bool strict) {
  json spec = {{"name", name},
               {"inputSchema",
                {{"json", parameters != nullptr && parameters->is_object() ? *parameters : json{{"type", "object"}}}}}};
  if (description != nullptr && description->is_string() && !description->get<std::string>().empty()) {
    spec["description"] = *description;
  }
  if (strict) spec["strict"] = true;
  return json{{"toolSpec", std::move(spec)}};
}

std::optional<ModelVersion> claude_version(std::string_view model_id) {
  const auto at = model_id.find("claude-");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = model_id.substr(at + 7);
  int numbers[2] = {0, 0};
  int found = 0;
  bool family_seen = false;
  while (!rest.empty() && found < 2) {
    const auto dash = rest.find('-');
    const std::string_view token = rest.substr(0, dash);
    const bool numeric = !token.empty() && std::all_of(token.begin(), token.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) != 0;
    });
    if (numeric && token.size() <= 2) {
      numbers[found++] = std::atoi(std::string(token).c_str());
    } else if (!numeric && !family_seen && found == 0) {
      family_seen = true;  // "sonnet-4-5": the family first, then the version
    } else {
      break;  // a date, "v1:0", or the family after the version ("3-5-sonnet")
    }
    if (dash == std::string_view::npos) break;
    rest.remove_prefix(dash + 1);
  }
  if (found == 0) return std::nullopt;
  return ModelVersion{numbers[0], found > 1 ? numbers[1] : 0};
}

namespace {

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

std::int64_t max_tokens_of(const json& c) {
  const json* inference = field(c, "inferenceConfig");
  const json* m = inference != nullptr ? field(*inference, "maxTokens") : nullptr;
  return m != nullptr && m->is_number_integer() ? m->get<std::int64_t>() : 0;
}

}  // namespace

std::variant<bool, ApiError> apply_reasoning_effort(json& c, std::string_view model_id, std::string_view effort,
                                                    bool stream, const std::string& param) {
  static constexpr std::string_view kEfforts[] = {"none", "minimal", "low", "medium", "high", "xhigh"};
  if (std::find(std::begin(kEfforts), std::end(kEfforts), effort) == std::end(kEfforts)) {
    return bad("reasoning effort must be one of none, minimal, low, medium, high, xhigh", param);
  }
  if (effort == "none" || effort == "minimal") return false;
  auto extra_fields = [&c]() -> json& {
    json& extra = c["additionalModelRequestFields"];
    if (!extra.is_object()) extra = json::object();
    return extra;
  };

  if (const auto v = claude_version(model_id); v && v->at_least(3, 7)) {
    if (v->at_least(4, 6)) {
      // Adaptive thinking: the model decides how much, guided by the effort.
      extra_fields()["thinking"] = {{"type", "adaptive"}};
      c["outputConfig"]["effort"] = effort;
      return true;
    }
    // Extended thinking: a token budget of at least 1,024, below maxTokens.
    std::int64_t budget = effort == "low" ? 2048 : effort == "medium" ? 8192 : effort == "high" ? 16384 : 32000;
    std::int64_t max_tokens = max_tokens_of(c);
    if (max_tokens == 0) {
      // Bedrock wants a stream for long answers (more than 21,333 tokens); Opus 4 stops at 32,000.
      max_tokens = std::min<std::int64_t>(budget + 8192, stream ? 32000 : 21333);
      c["inferenceConfig"]["maxTokens"] = max_tokens;
    }
    budget = std::min(budget, max_tokens - 1024);
    if (budget < 1024) return false;  // too few tokens to think in: answer without
    extra_fields()["thinking"] = {{"type", "enabled"}, {"budget_tokens", budget}};
    return true;
  }
  if (contains(model_id, "nova-2")) {
    const std::string level = effort == "xhigh" ? "high" : std::string(effort);
    extra_fields()["reasoningConfig"] = {{"type", "enabled"}, {"maxReasoningEffort", level}};
    // Nova 2 refuses maxTokens (and sampling) with high effort.
    if (level == "high" && c.contains("inferenceConfig")) {
      for (const char* k : {"maxTokens", "temperature", "topP"}) c["inferenceConfig"].erase(k);
      if (c["inferenceConfig"].empty()) c.erase("inferenceConfig");
    }
    return true;
  }
  if (contains(model_id, "openai.gpt-oss")) {
    extra_fields()["reasoning_effort"] = effort == "xhigh" ? "high" : std::string(effort);
    return true;
  }
  return false;
}

std::variant<std::optional<JsonFormat>, ApiError> json_format(const json& format, const std::string& param) {
  if (format.is_null()) return std::optional<JsonFormat>();
  if (!format.is_object()) return bad("must be an object with a type", param);
  const std::string type = string_field(format, "type", "text");
  if (type == "text") return std::optional<JsonFormat>();
  JsonFormat f;
  if (type == "json_object") return std::optional<JsonFormat>(f);
  if (type != "json_schema") return bad("type must be text, json_object or json_schema", param + ".type");
  // Chat completions nest the schema in json_schema; the Responses API puts it in the format.
  const json& def = format.contains("json_schema") ? object_field(format, "json_schema") : format;
  const json* schema = field(def, "schema");
  if (schema == nullptr || !schema->is_object()) return bad("json_schema needs a schema object", param + ".schema");
  f.schema = *schema;
  f.strict = bool_field(def, "strict");
  f.description = string_field(def, "description");
  std::string name = string_field(def, "name", "json_response");
  name.erase(std::remove_if(
                 name.begin(), name.end(),
                 [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) == 0 && ch != '_' && ch != '-'; }),
             name.end());
  f.name = name.empty() ? "json_response" : name.substr(0, 64);
  return std::optional<JsonFormat>(std::move(f));
}

JsonPlan apply_json_format(json& c, std::string_view model_id, const JsonFormat& f, bool thinking) {
  const auto claude = claude_version(model_id);
  if (!f.schema.is_null() && claude && claude->at_least(4, 5)) {
    json def = {{"schema", dump_json(f.schema)}, {"name", f.name}};
    if (!f.description.empty()) def["description"] = f.description;
    c["outputConfig"]["textFormat"] = {{"type", "json_schema"}, {"structure", {{"jsonSchema", std::move(def)}}}};
    return {};
  }
  const json schema = f.schema.is_null() ? json{{"type", "object"}} : f.schema;
  const json description = f.description.empty()
                               ? json("Give the answer as this tool's input: it is the JSON the user asked for.")
                               : json(f.description);
  json& config = c["toolConfig"];
  if (!config.is_object()) config = json::object();
  config["tools"].push_back(tool_spec(f.name, &description, &schema, f.strict));
  if (thinking) {
    // Extended thinking allows only an automatic tool choice: ask in words instead.
    config["toolChoice"] = {{"auto", json::object()}};
    c["system"].push_back({{"text", "Answer by calling the " + f.name + " tool with the answer as its input."}});
  } else if (config["tools"].size() > 1) {
    config["toolChoice"] = {{"any", json::object()}};
  } else {
    config["toolChoice"] = {{"tool", {{"name", f.name}}}};
  }
  return JsonPlan{f.name};
}

Usage usage_of(const json& usage) {
  Usage u;
  if (!usage.is_object()) return u;
  u.known = true;
  u.cache_read = count_field(usage, "cacheReadInputTokens");
  u.cache_write = count_field(usage, "cacheWriteInputTokens");
  u.input = count_field(usage, "inputTokens") + u.cache_read + u.cache_write;
  u.output = count_field(usage, "outputTokens");
  u.bedrock = converse_usage(usage);
  return u;
}

std::string answer_text(const json& content, std::string_view forced_tool) {
  std::string text;
  if (!content.is_array()) return text;
  for (const auto& block : content) {
    if (!forced_tool.empty()) {
      const json& use = object_field(block, "toolUse");
      if (string_field(use, "name") == forced_tool && use.contains("input")) return dump_json(use["input"]);
    }
    if (const json* t = field(block, "text"); t != nullptr && t->is_string()) text += t->get<std::string>();
  }
  return text;
}

}  // namespace signgate::api::openai
