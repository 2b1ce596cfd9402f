#include "api/openai/responses.h"

#include <algorithm>

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/json_scan.h"
#include "aws/scrub_identity.h"
#include "common/base64.h"

namespace signgate::api::openai {

using nlohmann::json;

namespace {

constexpr std::string_view kSealPrefix = "sg1.";
constexpr std::size_t kMaxReasoningBlocks = 64;

std::string index_param(std::string_view base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

// A message's content: a string, or parts of the given text types, images and files.
std::variant<json, ApiError> content_blocks(const json& content, const std::string& param, bool assistant) {
  json blocks = json::array();
  if (content.is_string()) {
    if (!content.get<std::string>().empty()) blocks.push_back({{"text", content}});
    return blocks;
  }
  if (content.is_null()) return blocks;
  if (!content.is_array()) return bad("content must be a string or an array of parts", param);
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string p = index_param(param, i);
    const std::string type = string_field(part, "type");
    if (type == "input_text" || type == "output_text" || type == "text") {
      const json* text = field(part, "text");
      if (text == nullptr || !text->is_string()) return bad("a text part needs its text", p + ".text");
      if (!text->get<std::string>().empty()) blocks.push_back({{"text", *text}});
    } else if (type == "refusal" && assistant) {
      const std::string refusal = string_field(part, "refusal");
      if (!refusal.empty()) blocks.push_back({{"text", refusal}});
    } else if (type == "input_image" && !assistant) {
      if (field(part, "file_id") != nullptr) return bad("file IDs are not supported; send a data: URL", p + ".file_id");
      const json* url = field(part, "image_url");
      const std::string u = url != nullptr && url->is_string() ? url->get<std::string>()
                                                               : string_field(object_field(part, "image_url"), "url");
      auto block = image_from_data_url(u, p + ".image_url");
      if (auto* e = std::get_if<ApiError>(&block)) return *e;
      blocks.push_back(std::get<json>(std::move(block)));
    } else if (type == "input_file" && !assistant) {
      if (field(part, "file_id") != nullptr || field(part, "file_url") != nullptr) {
        return bad("only file_data (a base64 data: URL) is supported for files", p);
      }
      auto block = document_from_data_url(string_field(part, "file_data"), string_field(part, "filename", "document"),
                                          p + ".file_data");
      if (auto* e = std::get_if<ApiError>(&block)) return *e;
      blocks.push_back(std::get<json>(std::move(block)));
    } else {
      return bad("content part type '" + clip(type) + "' is not supported here", p + ".type");
    }
    if (auto e = add_cache_point(blocks, part, p)) return *e;
  }
  return blocks;
}

// A tool's output (a string or parts) → a Converse toolResult's content.
std::variant<json, ApiError> tool_output(const json& output, const std::string& param) {
  if (output.is_string()) {
    const std::string text = output.get<std::string>();
    return json::array({{{"text", text.empty() ? "(no output)" : text}}});
  }
  auto blocks = content_blocks(output, param, false);
  if (auto* e = std::get_if<ApiError>(&blocks)) return *e;
  json& b = std::get<json>(blocks);
  b.erase(std::remove_if(b.begin(), b.end(), [](const json& x) { return x.contains("cachePoint"); }), b.end());
  if (b.empty()) b.push_back({{"text", "(no output)"}});
  return b;
}

// The Converse conversation being built from items, in order.
struct Conversation {
  json system = json::array();
  json messages = json::array();
};

// How many item_reference items (and reasoning items sent back by id) one request may use.
constexpr int kMaxReferences = 1000;

struct ItemContext {
  const ResponseHistory* history = nullptr;
  bool keep_reasoning = false;  // thinking is on and the model takes its blocks back (Claude)
  const ToolNames* names = nullptr;
  int max_depth = kDefaultMaxJsonDepth;
  // What stored items may add to this request: a stored item can be named many times, and each
  // use copies it into the Converse body, so every use is charged.
  std::size_t budget = 0;
  int references = 0;
  std::map<std::string, std::pair<json, std::size_t>, std::less<>> resolved;  // id → item, its size
};

// A stored item by id (looked up once per request), charged to the request's budget; or why not.
std::variant<const json*, ApiError> resolve(ItemContext& ctx, const std::string& id, const std::string& p) {
  if (++ctx.references > kMaxReferences) {
    return bad("a request may name at most " + std::to_string(kMaxReferences) + " stored items", p);
  }
  auto it = ctx.resolved.find(id);
  if (it == ctx.resolved.end()) {
    std::optional<json> stored = ctx.history != nullptr ? ctx.history->item(id) : std::nullopt;
    if (!stored) return static_cast<const json*>(nullptr);
    const std::size_t size = dump_json(*stored).size();
    it = ctx.resolved.emplace(id, std::make_pair(std::move(*stored), size)).first;
  }
  if (it->second.second > ctx.budget) {
    return bad("the stored items this request names are larger than limits.max_body_bytes", p);
  }
  ctx.budget -= it->second.second;
  return &it->second.first;
}

// Adds one input item to the conversation. `replay`: an item of a stored response (checked when
// it was first sent; references were resolved before it was stored). `expanded`, when given,
// receives the item as it is to be stored: an item_reference becomes the item it names.
std::optional<ApiError> add_item(Conversation& conv, const json& item, const std::string& p, ItemContext& ctx,
                                 bool replay, json* expanded) {
  if (!item.is_object()) return bad("each input item must be an object", p);
  std::string type = string_field(item, "type");
  if (type.empty() && item.contains("role")) type = "message";
  if (type == "item_reference") {
    if (replay) return bad("a stored item_reference cannot be replayed", p);
    const std::string id = string_field(item, "id");
    auto stored = resolve(ctx, id, p + ".id");
    if (auto* e = std::get_if<ApiError>(&stored)) return *e;
    const json* found = std::get<const json*>(stored);
    if (found == nullptr) return bad("item '" + clip(id) + "' is not known (or expired, or was not stored)", p + ".id");
    if (string_field(*found, "type") == "item_reference") return bad("an item_reference cannot name another", p);
    return add_item(conv, *found, p, ctx, true, expanded);
  }
  if (type == "reasoning") {
    std::optional<json> blocks;
    const json* sealed = field(item, "encrypted_content");
    if (sealed != nullptr && sealed->is_string() && !is_sealed_here(sealed->get<std::string>())) {
      // Another model's reasoning (OpenAI's, from a turn a model on Bedrock's OpenAI API took,
      // or another gateway's): no Converse model can read it, so it is kept for the store but
      // not sent. A conversation may change models.
      if (expanded != nullptr) expanded->push_back(item);
      return std::nullopt;
    }
    if (sealed != nullptr && sealed->is_string()) {
      blocks = open_reasoning(sealed->get<std::string>());
      if (!blocks) return bad("encrypted_content is not in the form signgate gives it", p + ".encrypted_content");
      if (expanded != nullptr) expanded->push_back(item);
    } else if (!replay && ctx.history != nullptr && ctx.keep_reasoning) {
      // Sent back without its content: the stored item has it, if it was stored.
      auto stored = resolve(ctx, string_field(item, "id"), p + ".id");
      if (auto* e = std::get_if<ApiError>(&stored)) return *e;
      const json* found = std::get<const json*>(stored);
      const json* s = found != nullptr ? field(*found, "encrypted_content") : nullptr;
      if (s != nullptr && s->is_string()) blocks = open_reasoning(s->get<std::string>());
      if (expanded != nullptr) expanded->push_back(found != nullptr && blocks ? *found : item);
    } else if (expanded != nullptr) {
      expanded->push_back(item);
    }
    // Only a model that takes its signed thinking back gets it; others would refuse or ignore it.
    if (ctx.keep_reasoning && blocks && !blocks->empty())
      append_message(conv.messages, "assistant", std::move(*blocks));
    return std::nullopt;
  }
  if (expanded != nullptr) expanded->push_back(item);
  if (type == "message") {
    const std::string role = string_field(item, "role");
    const json* content = field(item, "content");
    const json none;
    const bool assistant = role == "assistant";
    auto blocks = content_blocks(content != nullptr ? *content : none, p + ".content", assistant);
    if (auto* e = std::get_if<ApiError>(&blocks)) return *e;
    json& b = std::get<json>(blocks);
    if (auto e = add_cache_point(b, item, p)) return *e;
    if (role == "system" || role == "developer") {
      for (auto& block : b) {
        if (!block.contains("text") && !block.contains("cachePoint")) {
          return bad("system and developer messages take text only", p + ".content");
        }
        if (block.contains("cachePoint") && conv.system.empty()) continue;  // nothing before it to cache
        conv.system.push_back(std::move(block));
      }
    } else if (role == "user" || assistant) {
      append_message(conv.messages, role, std::move(b));
    } else {
      return bad("role '" + clip(role) + "' is not supported (user, assistant, system, developer)", p + ".role");
    }
    return std::nullopt;
  }
  if (type == "function_call" || type == "custom_tool_call") {
    const std::string call_id = string_field(item, "call_id");
    // A namespace's tool goes back under the Converse name it was offered with.
    const std::string name = ctx.names->converse_name(string_field(item, "namespace"), string_field(item, "name"));
    if (call_id.empty() || name.empty()) return bad(type + " needs call_id and name", p);
    json input;
    if (type == "custom_tool_call") {
      input = {{"input", string_field(item, "input")}};
    } else {
      const std::string args = string_field(item, "arguments");
      input = args.empty() ? json::object() : parse_json(args, ctx.max_depth);
      if (!input.is_object()) return bad("arguments must be a JSON object in a string", p + ".arguments");
    }
    append_message(conv.messages, "assistant",
                   json::array({{{"toolUse", {{"toolUseId", call_id}, {"name", name}, {"input", std::move(input)}}}}}));
    return std::nullopt;
  }
  if (type == "function_call_output" || type == "custom_tool_call_output") {
    const std::string call_id = string_field(item, "call_id");
    if (call_id.empty()) return bad(type + " needs call_id", p + ".call_id");
    const json* output = field(item, "output");
    const json none = "";
    auto content = tool_output(output != nullptr ? *output : none, p + ".output");
    if (auto* e = std::get_if<ApiError>(&content)) return *e;
    append_message(conv.messages, "user",
                   json::array({{{"toolResult", {{"toolUseId", call_id}, {"content", std::get<json>(content)}}}}}));
    return std::nullopt;
  }
  if (type.empty()) return bad("input items need a type", p + ".type");
  return bad("input item type '" + clip(type) + "' is not supported through Bedrock", p + ".type");
}

std::optional<ApiError> refuse_unsupported(const json& req) {
  if (bool_field(req, "background")) return bad("background responses are not supported through Bedrock", "background");
  if (const json* v = field(req, "conversation"); v != nullptr && !v->is_null()) {
    return bad("conversations are not supported; use previous_response_id", "conversation");
  }
  if (const json* v = field(req, "prompt"); v != nullptr && !v->is_null()) {
    return bad("prompt templates are not supported through Bedrock", "prompt");
  }
  if (const json* v = field(req, "top_logprobs"); v != nullptr && v->is_number() && v->get<double>() > 0) {
    return bad("logprobs are not available from Bedrock", "top_logprobs");
  }
  return std::nullopt;
}

// Characters (code points) of UTF-8 text: what OpenAI's annotation indices count.
std::size_t characters(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A Converse citation (Nova's web grounding) → a url_citation annotation over the characters
// [start, end) of the message's text; null when it names no web page.
json url_citation(const json& citation, std::size_t start, std::size_t end) {
  const json& web = object_field(object_field(citation, "location"), "web");
  const std::string url = string_field(web, "url");
  if (url.empty()) return nullptr;
  std::string title = string_field(citation, "title");
  if (title.empty()) title = string_field(web, "domain", url);
  return {{"type", "url_citation"}, {"start_index", start}, {"end_index", end}, {"url", url}, {"title", title}};
}

// A server tool's call (Nova's grounding searching the web): Bedrock's business, not a call
// the caller is to answer.
bool server_tool(const json& tool_use) { return string_field(tool_use, "type") == "server_tool_use"; }

// The model takes its reasoning blocks back in later turns (Claude's signed thinking).
bool takes_reasoning_back(std::string_view model_id) { return claude_version(model_id).has_value(); }

}  // namespace

bool is_sealed_here(std::string_view sealed) { return sealed.substr(0, kSealPrefix.size()) == kSealPrefix; }

std::string seal_reasoning(const json& blocks) { return std::string(kSealPrefix) + base64_encode(dump_json(blocks)); }

std::optional<json> open_reasoning(std::string_view sealed) {
  if (sealed.substr(0, kSealPrefix.size()) != kSealPrefix) return std::nullopt;
  auto bytes = base64_decode(sealed.substr(kSealPrefix.size()));
  if (!bytes) return std::nullopt;
  const json in = parse_json(*bytes, 8);
  if (!in.is_array() || in.size() > kMaxReasoningBlocks) return std::nullopt;
  // Rebuilt field by field: only the shapes Converse takes go upstream.
  json out = json::array();
  for (const auto& block : in) {
    const json& r = object_field(block, "reasoningContent");
    const json& text = object_field(r, "reasoningText");
    if (const json* t = field(text, "text"); t != nullptr && t->is_string()) {
      json rt = {{"text", *t}};
      if (const json* s = field(text, "signature"); s != nullptr && s->is_string()) rt["signature"] = *s;
      out.push_back({{"reasoningContent", {{"reasoningText", std::move(rt)}}}});
    } else if (const json* red = field(r, "redactedContent"); red != nullptr && red->is_string()) {
      out.push_back({{"reasoningContent", {{"redactedContent", *red}}}});
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::variant<ResponsesRequest, ApiError> responses_to_converse(std::string_view body,
                                                               const std::map<std::string, std::string>& aliases,
                                                               const ResponseHistory* history,
                                                               const ResponsesOptions& options) {
  const int max_depth = options.max_depth;
  auto read = read_object(body, max_depth);
  if (auto* e = std::get_if<ApiError>(&read)) return *e;
  const json& req = std::get<json>(read);
  if (auto refused = refuse_unsupported(req)) return *refused;

  ResponsesRequest out;
  const std::string model = string_field(req, "model");
  if (model.empty()) return bad("model is required", "model");
  out.model_name = model;
  const auto alias = aliases.find(model);
  out.model_id = alias != aliases.end() ? alias->second : model;
  out.family = family_of(options.families, out.model_id);
  out.stream = bool_field(req, "stream");
  out.store = bool_field(req, "store", true);
  out.previous_response_id = string_field(req, "previous_response_id");
  out.user = string_field(req, "user", string_field(req, "safety_identifier"));
  if (const json* include = field(req, "include"); include != nullptr && include->is_array()) {
    for (const auto& i : *include) {
      if (i == "reasoning.encrypted_content") out.encrypted_reasoning = true;
      if (i == "message.output_text.logprobs") return bad("logprobs are not available from Bedrock", "include");
    }
  }
  json& c = out.converse;

  // Limits and sampling first: the reasoning budget is fitted under maxTokens.
  json inference = json::object();
  if (const json* m = field(req, "max_output_tokens"); m != nullptr && !m->is_null()) {
    if (!m->is_number_integer() || m->get<long long>() < 1) {
      return bad("max_output_tokens must be a positive integer", "max_output_tokens");
    }
    inference["maxTokens"] = *m;
  }
  if (const json* t = field(req, "temperature"); t != nullptr && t->is_number()) inference["temperature"] = *t;
  if (const json* t = field(req, "top_p"); t != nullptr && t->is_number()) inference["topP"] = *t;
  if (!inference.empty()) c["inferenceConfig"] = std::move(inference);

  const json& reasoning = object_field(req, "reasoning");
  if (const json* effort = field(reasoning, "effort"); effort != nullptr && !effort->is_null()) {
    if (!effort->is_string()) return bad("reasoning.effort must be a string", "reasoning.effort");
    auto on = apply_reasoning_effort(c, out.family, effort->get<std::string>(), out.stream, "reasoning.effort");
    if (auto* e = std::get_if<ApiError>(&on)) return *e;
    out.thinking = std::get<bool>(on);
  }

  // The conversation: an earlier response's, then this input.
  Conversation conv;
  ItemContext ctx;
  ctx.history = history;
  ctx.keep_reasoning = out.thinking && takes_reasoning_back(out.family);
  ctx.max_depth = max_depth;
  ctx.budget = options.max_stored_bytes;
  ToolOptions tool_options;
  tool_options.refuse_hosted = options.refuse_hosted_tools;
  tool_options.web_grounding = has_web_grounding(out.family);
  auto tools = plan_tools(c, req, tool_options);
  if (auto* e = std::get_if<ApiError>(&tools)) return *e;
  out.tools = std::get<ToolPlan>(std::move(tools));
  ctx.names = &out.tools.names;
  if (auto tier = read_service_tier(req, out.family)) {
    if (auto* e = std::get_if<ApiError>(&*tier)) return *e;
    out.tier = std::get<ServiceTier>(*tier);
    if (out.tier != ServiceTier::kDefault) c["serviceTier"] = {{"type", tier_name(out.tier)}};
  }
  if (const json* instructions = field(req, "instructions"); instructions != nullptr && !instructions->is_null()) {
    if (!instructions->is_string()) return bad("instructions must be a string", "instructions");
    if (!instructions->get<std::string>().empty()) conv.system.push_back({{"text", *instructions}});
  }
  if (!out.previous_response_id.empty()) {
    if (history == nullptr) return bad("previous_response_id: this gateway keeps no responses", "previous_response_id");
    auto earlier = history->conversation(out.previous_response_id);
    if (auto* why = std::get_if<std::string>(&earlier)) return bad(*why, "previous_response_id");
    const json& items = std::get<json>(earlier);
    for (std::size_t i = 0; i < items.size(); ++i) {
      // Stored items were checked when they were first sent: only the instructions are not carried.
      if (auto e = add_item(conv, items[i], "previous_response_id", ctx, true, nullptr)) return *e;
    }
  }
  const json* input = field(req, "input");
  if (input == nullptr || input->is_null()) return bad("input is required", "input");
  out.input_items = json::array();
  if (input->is_string()) {
    const json item = {{"type", "message"}, {"role", "user"}, {"content", *input}};
    if (auto e = add_item(conv, item, "input", ctx, false, &out.input_items)) return *e;
  } else if (input->is_array()) {
    for (std::size_t i = 0; i < input->size(); ++i) {
      if (auto e = add_item(conv, (*input)[i], index_param("input", i), ctx, false, &out.input_items)) return *e;
    }
  } else {
    return bad("input must be a string or an array of items", "input");
  }
  if (conv.messages.empty()) return bad("input needs at least one user message", "input");
  if (conv.messages.front()["role"] != "user") {
    // Converse starts with the user: an answer that came first gets an empty-handed opener.
    // One object, named: a braced list here would be taken for two elements to insert.
    json opener = {{"role", "user"}, {"content", json::array({json{{"text", "."}}})}};
    conv.messages.insert(conv.messages.begin(), std::move(opener));
  }
  c["messages"] = std::move(conv.messages);
  if (!conv.system.empty()) c["system"] = std::move(conv.system);

  const json& text = object_field(req, "text");
  if (const json* format = field(text, "format")) {
    auto parsed = json_format(*format, "text.format");
    if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
    if (const auto& f = std::get<std::optional<JsonFormat>>(parsed)) {
      out.forced_tool = apply_json_format(c, out.family, *f, out.thinking).forced_tool;
    }
  }
  if (auto e = finish_converse(c, out.tools.tools_off && out.forced_tool.empty(), out.thinking)) return *e;

  // What the response object echoes back.
  json& echo = out.echo;
  echo["instructions"] = req.contains("instructions") ? req["instructions"] : json(nullptr);
  echo["max_output_tokens"] = req.contains("max_output_tokens") ? req["max_output_tokens"] : json(nullptr);
  echo["metadata"] = req.contains("metadata") && req["metadata"].is_object() ? req["metadata"] : json::object();
  echo["parallel_tool_calls"] = bool_field(req, "parallel_tool_calls", true);
  echo["previous_response_id"] = out.previous_response_id.empty() ? json(nullptr) : json(out.previous_response_id);
  echo["reasoning"] = {{"effort", reasoning.contains("effort") ? reasoning["effort"] : json(nullptr)},
                       {"summary", reasoning.contains("summary") ? reasoning["summary"] : json(nullptr)}};
  echo["store"] = out.store;
  echo["temperature"] = req.contains("temperature") ? req["temperature"] : json(nullptr);
  echo["text"] = {{"format", text.contains("format") ? text["format"] : json{{"type", "text"}}}};
  echo["tool_choice"] = req.contains("tool_choice") ? req["tool_choice"] : json("auto");
  echo["tools"] = req.contains("tools") && req["tools"].is_array() ? req["tools"] : json::array();
  echo["top_p"] = req.contains("top_p") ? req["top_p"] : json(nullptr);
  echo["truncation"] = req.contains("truncation") ? req["truncation"] : json("disabled");
  echo["user"] = req.contains("user") ? req["user"] : json(nullptr);
  return out;
}

ResponseBuilder::ResponseBuilder(const ResponsesRequest& request, std::string request_id, std::int64_t created_at)
    : request_(request), request_id_(std::move(request_id)), id_("resp_" + request_id_), created_at_(created_at) {}

std::string ResponseBuilder::item_id(std::string_view prefix) {
  return std::string(prefix) + "_" + request_id_ + "_" + std::to_string(next_item_++);
}

json ResponseBuilder::response(std::string_view status, const json& output, const Usage* usage, const json& incomplete,
                               const json& error) const {
  json r = {
      {"id", id_},           {"object", "response"}, {"created_at", created_at_},        {"status", status},
      {"background", false}, {"error", error},       {"incomplete_details", incomplete}, {"model", request_.model_name},
      {"output", output},    {"usage", nullptr}};
  for (const auto& [k, v] : request_.echo.items()) r[k] = v;
  r["service_tier"] = served_tier_.empty() ? std::string(tier_name(request_.tier)) : served_tier_;
  if (usage != nullptr && usage->known) {
    r["usage"] = {{"input_tokens", usage->input},
                  {"input_tokens_details", {{"cached_tokens", usage->cache_read}}},
                  {"output_tokens", usage->output},
                  {"output_tokens_details", {{"reasoning_tokens", 0}}},
                  {"total_tokens", usage->input + usage->output}};
  }
  return r;
}

std::string ResponseBuilder::response_text(std::string_view status, const std::vector<std::string>& output,
                                           const Usage* usage, const json& incomplete, const json& error) const {
  json r = response(status, json::array(), usage, incomplete, error);
  r.erase("output");
  std::string out = dump_json(r);
  out.pop_back();  // the object's '}': the items, already serialised, go in before it
  out += ",\"output\":[";
  for (std::size_t i = 0; i < output.size(); ++i) {
    if (i != 0) out += ',';
    out += output[i];
  }
  out += "]}";
  return out;
}

json ResponseBuilder::reasoning_item(std::string id, const std::string& text, const json& blocks) const {
  json item = {{"id", std::move(id)}, {"type", "reasoning"}, {"summary", json::array()}};
  if (!text.empty()) item["summary"].push_back({{"type", "summary_text"}, {"text", text}});
  // Kept whenever a store may hold it (to be sent back by id), shown when asked for.
  if (request_.encrypted_reasoning || request_.store) item["encrypted_content"] = seal_reasoning(blocks);
  return item;
}

CallerTool ResponseBuilder::caller_tool(const std::string& converse_name) const {
  if (const CallerTool* t = request_.tools.names.caller(converse_name)) return *t;
  return {converse_name, {}};
}

json ResponseBuilder::tool_item(std::string id, const std::string& call_id, const std::string& name,
                                const std::string& input) const {
  const CallerTool caller = caller_tool(name);
  json item;
  if (request_.tools.custom_tools.count(name) != 0) {
    // A free-form tool's input is the string the model put in {"input": ...}.
    const json args = parse_json(input, kDefaultMaxJsonDepth);
    item = {{"id", std::move(id)}, {"type", "custom_tool_call"}, {"status", "completed"},
            {"call_id", call_id},  {"name", caller.name},        {"input", string_field(args, "input", input)}};
  } else {
    item = {{"id", std::move(id)}, {"type", "function_call"}, {"status", "completed"},
            {"call_id", call_id},  {"name", caller.name},     {"arguments", input.empty() ? "{}" : input}};
  }
  if (!caller.ns.empty()) item["namespace"] = caller.ns;
  return item;
}

json ResponseBuilder::message_item(std::string id, const std::string& text, std::string_view status, json annotations) {
  return {{"id", std::move(id)},
          {"type", "message"},
          {"status", status},
          {"role", "assistant"},
          {"content", json::array({{{"type", "output_text"},
                                    {"text", text},
                                    {"annotations", std::move(annotations)},
                                    {"logprobs", json::array()}}})}};
}

std::pair<std::string_view, json> ResponseBuilder::outcome(std::string_view stop) {
  if (stop == "max_tokens" || stop == "model_context_window_exceeded") {
    return {"incomplete", {{"reason", "max_output_tokens"}}};
  }
  if (stop == "guardrail_intervened" || stop == "content_filtered") {
    return {"incomplete", {{"reason", "content_filter"}}};
  }
  return {"completed", nullptr};
}

json response_from_converse(const json& answer, ResponseBuilder& b) {
  const ResponsesRequest& request = b.request();
  json output = json::array();
  static const json kNone;
  const json* found = field(object_field(object_field(answer, "output"), "message"), "content");
  const json& content = found != nullptr && found->is_array() ? *found : kNone;
  std::string text;
  json annotations = json::array();
  auto flush_text = [&] {
    if (text.empty()) return;
    output.push_back(ResponseBuilder::message_item(b.item_id("msg"), text, "completed", std::move(annotations)));
    annotations = json::array();
    text.clear();
  };
  std::string thought;
  json thought_blocks = json::array();
  auto flush_thought = [&] {
    if (thought_blocks.empty()) return;
    output.push_back(b.reasoning_item(b.item_id("rs"), thought, thought_blocks));
    thought.clear();
    thought_blocks = json::array();
  };
  if (content.is_array()) {
    for (const auto& block : content) {
      if (const json* r = field(block, "reasoningContent"); r != nullptr && r->is_object()) {
        flush_text();
        // Only the shapes Converse takes back are kept (a malformed one would break every later turn).
        if (auto kept = open_reasoning(seal_reasoning(json::array({block})))) {
          thought += string_field(object_field(*r, "reasoningText"), "text");
          thought_blocks.push_back(std::move((*kept)[0]));
        }
        continue;
      }
      flush_thought();
      if (const json* t = field(block, "text"); t != nullptr && t->is_string()) {
        text += t->get<std::string>();
        continue;
      }
      if (const json* cited = field(block, "citationsContent"); cited != nullptr && cited->is_object()) {
        const std::size_t start = characters(text);
        if (const json* parts = field(*cited, "content"); parts != nullptr && parts->is_array()) {
          for (const auto& part : *parts) text += string_field(part, "text");
        }
        const std::size_t end = characters(text);
        if (const json* list = field(*cited, "citations"); list != nullptr && list->is_array()) {
          for (const auto& citation : *list) {
            if (json a = url_citation(citation, start, end); !a.is_null()) annotations.push_back(std::move(a));
          }
        }
        continue;
      }
      const json& use = object_field(block, "toolUse");
      if (string_field(use, "toolUseId").empty() || string_field(use, "name").empty() || server_tool(use)) continue;
      const std::string input = use.contains("input") ? dump_json(use["input"]) : "{}";
      if (!request.forced_tool.empty() && string_field(use, "name") == request.forced_tool) {
        text += input;  // the JSON answer asked for
        continue;
      }
      flush_text();
      const bool custom = request.tools.custom_tools.count(string_field(use, "name")) != 0;
      output.push_back(b.tool_item(b.item_id(custom ? "ctc" : "fc"), string_field(use, "toolUseId"),
                                   string_field(use, "name"), input));
    }
  }
  flush_thought();
  flush_text();
  const Usage usage = usage_of(object_field(answer, "usage"));
  if (std::string tier = served_tier(answer); !tier.empty()) b.served(tier);
  auto [status, incomplete] = ResponseBuilder::outcome(string_field(answer, "stopReason", "end_turn"));
  return b.response(status, output, &usage, incomplete);
}

// ---- streaming ----

std::string ResponseEventTranslator::event(std::string_view type, json payload) {
  payload["type"] = type;
  payload["sequence_number"] = sequence_++;
  std::string out = "event: ";
  out += type;
  out += "\ndata: ";
  out += dump_json(payload);
  out += "\n\n";
  return out;
}

std::string ResponseEventTranslator::start() {
  const json r = b_.response("in_progress", json::array(), nullptr);
  std::string out = event("response.created", {{"response", r}});
  out += event("response.in_progress", {{"response", r}});
  return out;
}

std::string ResponseEventTranslator::open(Kind kind, std::int64_t block, const json& start) {
  std::string out = close();
  kind_ = kind;
  block_ = block;
  text_.clear();
  signature_.clear();
  redacted_ = json::array();
  annotations_ = json::array();
  cited_ = cited_bytes_ = 0;
  const std::int64_t index = static_cast<std::int64_t>(output_.size());
  if (kind == Kind::kText) {
    item_id_ = b_.item_id("msg");
    // Everything before the text is the same in each of this item's deltas: written once.
    delta_prefix_ = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":";
    append_json_string(delta_prefix_, item_id_);
    delta_prefix_ += ",\"output_index\":" + std::to_string(index) + ",\"content_index\":0,\"delta\":";
    json item = {{"id", item_id_},
                 {"type", "message"},
                 {"status", "in_progress"},
                 {"role", "assistant"},
                 {"content", json::array()}};
    out += event("response.output_item.added", {{"output_index", index}, {"item", item}});
    out +=
        event("response.content_part.added",
              {{"item_id", item_id_},
               {"output_index", index},
               {"content_index", 0},
               {"part",
                {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}, {"logprobs", json::array()}}}});
  } else if (kind == Kind::kReasoning) {
    item_id_ = b_.item_id("rs");
    out += event(
        "response.output_item.added",
        {{"output_index", index}, {"item", {{"id", item_id_}, {"type", "reasoning"}, {"summary", json::array()}}}});
  } else if (kind == Kind::kTool) {
    const json& use = object_field(start, "toolUse");
    call_id_ = string_field(use, "toolUseId");
    name_ = string_field(use, "name");
    custom_ = b_.request().tools.custom_tools.count(name_) != 0;
    item_id_ = b_.item_id(custom_ ? "ctc" : "fc");
    const CallerTool caller = b_.caller_tool(name_);
    json item = custom_ ? json{{"id", item_id_},      {"type", "custom_tool_call"}, {"status", "in_progress"},
                               {"call_id", call_id_}, {"name", caller.name},        {"input", ""}}
                        : json{{"id", item_id_},      {"type", "function_call"}, {"status", "in_progress"},
                               {"call_id", call_id_}, {"name", caller.name},     {"arguments", ""}};
    if (!caller.ns.empty()) item["namespace"] = caller.ns;
    out += event("response.output_item.added", {{"output_index", index}, {"item", std::move(item)}});
  }
  return out;
}

std::string ResponseEventTranslator::raw_event(std::string_view type, std::string_view fields) {
  std::string out;
  out.reserve(fields.size() + 2 * type.size() + 64);
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += "\",\"sequence_number\":";
  out += std::to_string(sequence_++);
  out += ',';
  out += fields;
  out += "}\n\n";
  return out;
}

std::string ResponseEventTranslator::item_done(std::int64_t index, json item) {
  std::string text = dump_json(item);
  std::string out =
      raw_event("response.output_item.done", "\"output_index\":" + std::to_string(index) + ",\"item\":" + text);
  output_json_.push_back(std::move(text));
  output_.push_back(std::move(item));
  return out;
}

std::string ResponseEventTranslator::close() {
  std::string out;
  const std::int64_t index = static_cast<std::int64_t>(output_.size());
  if (kind_ == Kind::kText) {
    // The whole text goes out three times here and once more in response.completed: escaped
    // once, written by hand (nlohmann's serialiser would validate and escape it four times).
    std::string text;
    append_json_string(text, text_);
    std::string head = "\"item_id\":";
    append_json_string(head, item_id_);
    head += ",\"output_index\":" + std::to_string(index) + ",\"content_index\":0,";
    out += raw_event("response.output_text.done", head + "\"text\":" + text + ",\"logprobs\":[]");
    const std::string part = "{\"type\":\"output_text\",\"text\":" + text +
                             ",\"annotations\":" + dump_json(annotations_) + ",\"logprobs\":[]}";
    out += raw_event("response.content_part.done", head + "\"part\":" + part);
    std::string item = "{\"id\":";
    append_json_string(item, item_id_);
    item += ",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[" + part + "]}";
    out += raw_event("response.output_item.done", "\"output_index\":" + std::to_string(index) + ",\"item\":" + item);
    output_json_.push_back(std::move(item));
    output_.push_back(ResponseBuilder::message_item(item_id_, text_, "completed", std::move(annotations_)));
    annotations_ = json::array();
  } else if (kind_ == Kind::kReasoning) {
    json blocks = json::array();
    if (!text_.empty() || !signature_.empty()) {
      json rt = {{"text", text_}};
      if (!signature_.empty()) rt["signature"] = signature_;
      blocks.push_back({{"reasoningContent", {{"reasoningText", std::move(rt)}}}});
    }
    for (auto& r : redacted_) blocks.push_back({{"reasoningContent", {{"redactedContent", std::move(r)}}}});
    if (!text_.empty()) {
      out += event("response.reasoning_summary_text.done",
                   {{"item_id", item_id_}, {"output_index", index}, {"summary_index", 0}, {"text", text_}});
      out += event("response.reasoning_summary_part.done", {{"item_id", item_id_},
                                                            {"output_index", index},
                                                            {"summary_index", 0},
                                                            {"part", {{"type", "summary_text"}, {"text", text_}}}});
    }
    out += item_done(index, b_.reasoning_item(item_id_, text_, blocks));
  } else if (kind_ == Kind::kTool) {
    json item = b_.tool_item(item_id_, call_id_, name_, text_);
    if (custom_) {
      out += event("response.custom_tool_call_input.done",
                   {{"item_id", item_id_}, {"output_index", index}, {"input", item["input"]}});
    } else {
      out += event(
          "response.function_call_arguments.done",
          {{"item_id", item_id_}, {"output_index", index}, {"name", item["name"]}, {"arguments", item["arguments"]}});
    }
    out += item_done(index, std::move(item));
  }
  kind_ = Kind::kNone;
  block_ = -1;
  return out;
}

std::string ResponseEventTranslator::on_message(const aws::eventstream::Message& m) {
  if (completed_ || failed_) return {};
  const std::string* message_type = m.string_header(":message-type");
  if (message_type != nullptr && *message_type != "event") {
    const std::string* kind = m.string_header(":exception-type");
    const json payload = parse_json(m.payload, kDefaultMaxJsonDepth);
    // Bedrock's words may name signgate's AWS identity (an ARN, an account): not the caller's.
    const std::string text = aws::scrub_identity(string_field(payload, "message", m.payload));
    return fail(kind != nullptr ? *kind : "server_error", (kind != nullptr ? *kind + ": " : std::string()) + text);
  }
  const std::string* type = m.string_header(":event-type");
  if (type == nullptr) return {};
  if (*type == "contentBlockDelta" && kind_ == Kind::kText) {
    // The common case, one per token: read the text without a DOM.
    if (auto text = scan_string(m.payload, "delta", "text")) {
      text_ += *text;
      std::string out;
      out.reserve(delta_prefix_.size() + text->size() + 64);
      out += delta_prefix_;
      append_json_string(out, *text);
      out += ",\"logprobs\":[],\"sequence_number\":";
      out += std::to_string(sequence_++);
      out += "}\n\n";
      return out;
    }
  }
  const json e = parse_json(m.payload, kDefaultMaxJsonDepth);
  if (!e.is_object()) return {};
  const json* bi = field(e, "contentBlockIndex");
  const std::int64_t block = bi != nullptr && bi->is_number_integer() ? bi->get<std::int64_t>() : -2;
  if (*type == "contentBlockStart") {
    const json& start = object_field(e, "start");
    if (!start.contains("toolUse")) return {};
    if (server_tool(object_field(start, "toolUse"))) {
      skipped_block_ = block;
      return {};
    }
    const std::string name = string_field(object_field(start, "toolUse"), "name");
    if (!b_.request().forced_tool.empty() && name == b_.request().forced_tool) return open(Kind::kText, block, start);
    return open(Kind::kTool, block, start);
  }
  if (*type == "contentBlockDelta") {
    if (block == skipped_block_) return {};
    const json& delta = object_field(e, "delta");
    std::string out;
    if (const json* c = field(delta, "citation"); c != nullptr && c->is_object()) return cite(block, *c);
    if (const json* t = field(delta, "text"); t != nullptr && t->is_string()) {
      if (kind_ != Kind::kText || block != block_) out += open(Kind::kText, block, json());
      text_ += t->get<std::string>();
      out += event("response.output_text.delta", {{"item_id", item_id_},
                                                  {"output_index", static_cast<std::int64_t>(output_.size())},
                                                  {"content_index", 0},
                                                  {"delta", *t},
                                                  {"logprobs", json::array()}});
      return out;
    }
    if (const json* r = field(delta, "reasoningContent"); r != nullptr && r->is_object()) {
      if (kind_ != Kind::kReasoning || block != block_) out += open(Kind::kReasoning, block, json());
      const std::int64_t at = static_cast<std::int64_t>(output_.size());
      if (const json* t = field(*r, "text"); t != nullptr && t->is_string()) {
        if (text_.empty()) {
          out += event("response.reasoning_summary_part.added", {{"item_id", item_id_},
                                                                 {"output_index", at},
                                                                 {"summary_index", 0},
                                                                 {"part", {{"type", "summary_text"}, {"text", ""}}}});
        }
        text_ += t->get<std::string>();
        out += event("response.reasoning_summary_text.delta",
                     {{"item_id", item_id_}, {"output_index", at}, {"summary_index", 0}, {"delta", *t}});
      }
      if (const json* s = field(*r, "signature"); s != nullptr && s->is_string()) signature_ += s->get<std::string>();
      if (const json* red = field(*r, "redactedContent"); red != nullptr && red->is_string()) redacted_.push_back(*red);
      return out;
    }
    const json* input = field(object_field(delta, "toolUse"), "input");
    if (input != nullptr && input->is_string() && block == block_) {
      text_ += input->get<std::string>();
      const std::int64_t at = static_cast<std::int64_t>(output_.size());
      if (kind_ == Kind::kText) {  // the forced JSON tool: its input is the answer's text
        return event("response.output_text.delta", {{"item_id", item_id_},
                                                    {"output_index", at},
                                                    {"content_index", 0},
                                                    {"delta", *input},
                                                    {"logprobs", json::array()}});
      }
      if (kind_ == Kind::kTool && !custom_) {
        return event("response.function_call_arguments.delta",
                     {{"item_id", item_id_}, {"output_index", at}, {"delta", *input}});
      }
      // A free-form tool's input arrives as JSON around the string: sent whole when done.
    }
    return {};
  }
  if (*type == "contentBlockStop") return block == block_ ? close() : std::string();
  if (*type == "messageStop") {
    stop_reason_ = string_field(e, "stopReason", "end_turn");
    return close();
  }
  if (*type == "metadata") {
    usage = usage_of(object_field(e, "usage"));
    if (std::string tier = served_tier(e); !tier.empty()) b_.served(tier);
  }
  return {};
}

std::string ResponseEventTranslator::cite(std::int64_t block, const json& citation) {
  // The text since the last citation is what this one backs: the open message's, or a new one.
  std::string out;
  if (kind_ != Kind::kText) out += open(Kind::kText, block, json());
  const std::size_t end = cited_ + characters(std::string_view(text_).substr(cited_bytes_));
  json annotation = url_citation(citation, cited_, end);
  if (annotation.is_null()) return out;
  cited_ = end;
  cited_bytes_ = text_.size();
  const auto at = static_cast<std::int64_t>(annotations_.size());
  annotations_.push_back(annotation);
  out += event("response.output_text.annotation.added", {{"item_id", item_id_},
                                                         {"output_index", static_cast<std::int64_t>(output_.size())},
                                                         {"content_index", 0},
                                                         {"annotation_index", at},
                                                         {"annotation", std::move(annotation)}});
  return out;
}

std::string ResponseEventTranslator::finish() {
  if (completed_ || failed_) return {};
  std::string out = close();
  completed_ = true;
  auto [status, incomplete] = ResponseBuilder::outcome(stop_reason_);
  out += raw_event(status == "completed" ? "response.completed" : "response.incomplete",
                   "\"response\":" + b_.response_text(status, output_json_, &usage, incomplete));
  return out;
}

std::string ResponseEventTranslator::fail(std::string_view code, std::string_view message) {
  failed_ = true;
  // Flat as OpenAI documents it, and nested as openai-node and LangChain throw on.
  std::string out =
      event("error", {{"code", code},
                      {"message", message},
                      {"param", nullptr},
                      {"error", {{"type", "server_error"}, {"code", code}, {"message", message}, {"param", nullptr}}}});
  out += raw_event("response.failed", "\"response\":" + b_.response_text("failed", output_json_, &usage, nullptr,
                                                                         {{"code", code}, {"message", message}}));
  return out;
}

std::string ResponseEventTranslator::error(std::string_view message) {
  if (completed_ || failed_) return {};
  return fail("server_error", message);
}

}  // namespace signgate::api::openai
