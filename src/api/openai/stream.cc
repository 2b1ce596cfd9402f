#include "api/openai/stream.h"
#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/json_scan.h"
#include "aws/scrub_identity.h"

namespace signgate::api::openai {

using nlohmann::json;

namespace {
std::string sse(const json& j) { return "data: " + dump_json(j) + "\n\n"; }
}  // namespace

ChunkTranslator::ChunkTranslator(const ChatRequest& request, std::string id, std::int64_t created)
    : request_(request), id_(std::move(id)), created_(created) {
  // Everything before the delta is the same in every chunk of a stream: written once here.
  prefix_ = "data: {\"id\":";
  append_json_string(prefix_, id_);
  prefix_ += ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(created_) + ",\"model\":";
  append_json_string_checked(prefix_, request_.model_name);  // as the client sent it: any bytes
  // The tier asked for (Bedrock says which served only at the end: the usage chunk has that).
  prefix_ += ",\"service_tier\":\"";
  prefix_ += tier_name(request_.tier);
  prefix_ += "\",\"choices\":[{\"index\":0,\"delta\":";
}

std::string ChunkTranslator::chunk_text(std::string_view delta_json, std::string_view finish_reason) {
  std::string out;
  out.reserve(prefix_.size() + delta_json.size() + 64);
  out += prefix_;
  out += delta_json;
  out += ",\"logprobs\":null,\"finish_reason\":";
  if (finish_reason.empty()) {
    out += "null";
  } else {
    append_json_string(out, finish_reason);
  }
  out += "}]}\n\n";
  return out;
}

std::string ChunkTranslator::chunk(const json& delta, std::string_view finish_reason) {
  return chunk_text(dump_json(delta), finish_reason);
}

std::string ChunkTranslator::on_message(const aws::eventstream::Message& m) {
  const std::string* message_type = m.string_header(":message-type");
  if (message_type != nullptr && *message_type != "event") {
    const std::string* kind = m.string_header(":exception-type");
    const json payload = parse_json(m.payload, kDefaultMaxJsonDepth);
    const std::string text = payload.is_object() && payload.contains("message") && payload["message"].is_string()
                                 ? payload["message"].get<std::string>()
                                 : m.payload;
    // Bedrock's words may name signgate's AWS identity (an ARN, an account): not the caller's.
    return error((kind != nullptr ? *kind + ": " : std::string()) + aws::scrub_identity(text));
  }
  const std::string* type = m.string_header(":event-type");
  if (type == nullptr) return {};
  if (*type == "contentBlockDelta") {
    // The common case, one per token: read the text without a DOM and write the delta by hand.
    if (auto text = scan_string(m.payload, "delta", "text")) {
      std::string content = "{\"content\":";
      append_json_string(content, *text);
      content.push_back('}');
      return chunk_text(content, {});
    }
  }
  const json e = parse_json(m.payload, kDefaultMaxJsonDepth);
  if (!e.is_object()) return {};
  if (*type == "messageStart") return chunk({{"role", "assistant"}, {"content", ""}});
  const json* index = field(e, "contentBlockIndex");
  const std::int64_t block = index != nullptr && index->is_number_integer() ? index->get<std::int64_t>() : -2;
  if (*type == "contentBlockStart") {
    const json& start = object_field(e, "start");
    if (start.contains("toolUse")) {
      const json& use = start["toolUse"];
      if (!request_.forced_tool.empty() && string_field(use, "name") == request_.forced_tool) {
        forced_block_ = block;  // its input is the JSON answer: streamed as content
        return {};
      }
      ++tool_index_;
      return chunk(
          {{"tool_calls", json::array({{{"index", tool_index_},
                                        {"id", string_field(use, "toolUseId")},
                                        {"type", "function"},
                                        {"function", {{"name", string_field(use, "name")}, {"arguments", ""}}}}})}});
    }
    return {};
  }
  if (*type == "contentBlockDelta") {
    const json& delta = object_field(e, "delta");
    if (delta.contains("text") && delta["text"].is_string()) return chunk({{"content", delta["text"]}});
    const json& thought = object_field(delta, "reasoningContent");
    if (const json* t = field(thought, "text"); t != nullptr && t->is_string()) {
      return chunk({{"reasoning_content", *t}});
    }
    const json* input = field(object_field(delta, "toolUse"), "input");
    if (block == forced_block_ && input != nullptr && input->is_string()) return chunk({{"content", *input}});
    if (delta.contains("toolUse") && delta["toolUse"].contains("input")) {
      return chunk({{"tool_calls", json::array({{{"index", std::max(tool_index_, 0)},
                                                 {"function", {{"arguments", delta["toolUse"]["input"]}}}}})}});
    }
    return {};
  }
  if (*type == "messageStop") {
    std::string_view finish = finish_reason(string_field(e, "stopReason", "end_turn"));
    if (finish == "tool_calls" && tool_index_ < 0) finish = "stop";  // only the forced JSON tool: an answer
    return chunk_text("{}", finish);
  }
  if (*type == "metadata") served_tier_ = served_tier(e);
  if (*type == "metadata" && e.contains("usage") && e["usage"].is_object()) {
    usage = usage_of(e["usage"]);
    input_tokens = usage.input;
    output_tokens = usage.output;
    saw_usage = true;
  }
  return {};
}

std::string ChunkTranslator::finish() {
  std::string out;
  if (request_.include_usage && saw_usage) {
    out += sse({{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created_},
                {"model", request_.model_name},
                {"choices", json::array()},
                {"service_tier", service_tier()},
                {"usage", usage_json(usage)}});
  }
  out += "data: [DONE]\n\n";
  return out;
}

std::string ChunkTranslator::service_tier() const {
  return served_tier_.empty() ? std::string(tier_name(request_.tier)) : served_tier_;
}

std::string ChunkTranslator::error(std::string_view message) {
  return sse({{"error", {{"message", message}, {"type", "api_error"}, {"param", nullptr}, {"code", nullptr}}}});
}

}  // namespace signgate::api::openai
