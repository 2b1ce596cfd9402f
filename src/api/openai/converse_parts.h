// What the OpenAI translators (chat completions, Responses) share when they build a Converse
// request or read its answer: image parts, role merging, cache points, reasoning effort,
// structured output and usage. Pure JSON (no I/O).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "api/service_tier.h"
#include "api/usage.h"

namespace signgate::api::openai {

// An error as OpenAI clients expect it: {"error":{"message","type","param","code"}}.
struct ApiError {
  unsigned status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // the offending field, e.g. "messages[2].content[0].image_url"
  std::string code;
};
nlohmann::json error_body(const ApiError& e);

inline ApiError bad(std::string message, std::string param) {
  return ApiError{400, "invalid_request_error", std::move(message), std::move(param), {}};
}

// A request body as a JSON object, read within `max_depth`; else the 400 saying why.
std::variant<nlohmann::json, ApiError> read_object(std::string_view body, int max_depth);

// "data:image/png;base64,AAAA" → {"image":{"format":"png","source":{"bytes":"AAAA"}}}; Bedrock
// fetches no URLs, so others are refused naming `param`.
std::variant<nlohmann::json, ApiError> image_from_data_url(std::string_view url, const std::string& param);

// "data:application/pdf;base64,..." and a file name → a Converse document block.
std::variant<nlohmann::json, ApiError> document_from_data_url(std::string_view url, std::string_view filename,
                                                              const std::string& param);

// Converse wants alternating roles: a message of the same role as the last one is merged into it.
void append_message(nlohmann::json& messages, const std::string& role, nlohmann::json blocks);

// cache_control {"type":"ephemeral","ttl":"5m"|"1h"} → a Converse cachePoint block; nullopt when
// absent or null.
std::variant<std::optional<nlohmann::json>, ApiError> cache_point(const nlohmann::json& holder,
                                                                  const std::string& param);

// Adds the cache point `holder`'s cache_control asks for after `blocks` (only after content:
// a cache point first, or twice in a row, caches nothing).
std::optional<ApiError> add_cache_point(nlohmann::json& blocks, const nlohmann::json& holder, const std::string& param);

// What every Converse request built from OpenAI input gets last: tool results first in their
// user turn (Claude wants them so), a toolConfig kept when the history holds tool calls even
// with tools off (Bedrock wants one; the model is told not to call), an automatic tool choice
// when thinking is on (Claude refuses a forced one), and at most 4 cache points (Bedrock's cap).
std::optional<ApiError> finish_converse(nlohmann::json& c, bool tools_off, bool thinking);

// The model ID behaviour is chosen by: the family `families` (models: {id, family}) gives
// `model_id` (an application inference profile's ARN says nothing of its model), else itself.
const std::string& family_of(const std::map<std::string, std::string>* families, const std::string& model_id);

// OpenAI's service_tier ("auto", "default", "scale": Bedrock's default tier; "priority",
// "flex") as Bedrock can serve it for `family` (a tier the model lacks: the default tier);
// nullopt when the request names none; a value OpenAI does not have is a 400.
std::optional<std::variant<ServiceTier, ApiError>> read_service_tier(const nlohmann::json& request,
                                                                     std::string_view family);

// Bedrock's name for the tier that served a call ("default", "priority", "flex", as OpenAI's
// service_tier names them too), from a Converse answer's or stream metadata's serviceTier;
// empty when it says none.
std::string served_tier(const nlohmann::json& holder);

// A caller's string as quoted in an error message: at most `n` bytes, cut at a character.
std::string clip(std::string_view s, std::size_t n = 200);

// A function tool → Converse's toolSpec (name, description, JSON schema, strict).
nlohmann::json tool_spec(const nlohmann::json& name, const nlohmann::json* description,
                         const nlohmann::json* parameters, bool strict);

// Claude's version from any model ID, profile or ARN naming it ("claude-sonnet-4-5-..." → 4.5).
struct ModelVersion {
  int major = 0;
  int minor = 0;
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
};
std::optional<ModelVersion> claude_version(std::string_view model_id);

// OpenAI's reasoning effort (none, minimal, low, medium, high, xhigh) on the Converse request
// `c` for `model_id`: Claude's extended thinking (a budget under maxTokens) or adaptive
// thinking with an effort, Nova 2's reasoningConfig, gpt-oss's reasoning_effort. Models that do
// not reason take no field (the effort is a hint, as for OpenAI's own non-reasoning models).
// Returns whether thinking was turned on; an unknown effort is a 400 naming `param`.
std::variant<bool, ApiError> apply_reasoning_effort(nlohmann::json& c, std::string_view model_id,
                                                    std::string_view effort, bool stream, const std::string& param);

// A JSON answer the model must give: json_schema (`schema` set) or any JSON object.
struct JsonFormat {
  std::string name = "json_response";
  std::string description;
  nlohmann::json schema;  // null: any JSON object
  bool strict = false;
};
// Reads OpenAI's json_schema / json_object format (response_format, or the Responses API's
// text.format); nullopt for "text" or absent.
std::variant<std::optional<JsonFormat>, ApiError> json_format(const nlohmann::json& format, const std::string& param);

// How a JSON answer is asked for: Converse's native structured output (outputConfig) where the
// model has it (Claude 4.5 and later), otherwise a tool the model is made to call, whose input
// becomes the answer's text.
struct JsonPlan {
  std::string forced_tool;  // empty: native structured output
};
JsonPlan apply_json_format(nlohmann::json& c, std::string_view model_id, const JsonFormat& f, bool thinking);

// Converse's TokenUsage: inputTokens excludes the cached prefix, which is read or written.
struct Usage {
  std::uint64_t input = 0;  // everything read: inputTokens + cache reads + cache writes
  std::uint64_t output = 0;
  std::uint64_t cache_read = 0;
  std::uint64_t cache_write = 0;
  bool known = false;
  TokenUsage bedrock;  // as Bedrock said it, for the audit line (inputTokens without the cache)
};
Usage usage_of(const nlohmann::json& usage);

// The text of a Converse answer's content: every text block, or the forced tool's input.
std::string answer_text(const nlohmann::json& content, std::string_view forced_tool);

}  // namespace signgate::api::openai
