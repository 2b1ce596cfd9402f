// OpenAI chat completions ⇄ Bedrock Converse, as pure JSON transforms (no I/O).
// Requests: model (ID, inference profile, ARN or alias), messages with every role, text and
// base64 image parts, sampling limits, stop, tools and tool results, response_format (JSON
// schema or object), reasoning_effort, cache_control (→ cache points). Responses: the
// chat.completion object with the finish reason, reasoning_content and usage (cache included).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "api/json_depth.h"
#include "api/openai/converse_parts.h"
#include "api/usage.h"

namespace signgate::api::openai {

struct ChatRequest {
  std::string model_name;   // as the client named it (echoed back)
  std::string model_id;     // the Bedrock model ID, inference profile or ARN
  nlohmann::json converse;  // the Converse request body
  bool stream = false;
  bool include_usage = false;                // stream_options.include_usage
  std::string user;                          // kept for the audit log
  std::string forced_tool;                   // a JSON answer asked for through a tool: its input is the content
  bool thinking = false;                     // reasoning_effort turned the model's thinking on
  std::string family;                        // the model ID behaviour is chosen by (models: family, else model_id)
  ServiceTier tier = ServiceTier::kDefault;  // what Converse is asked for (service_tier)
};

// Parses and translates a /v1/chat/completions body. `aliases` maps names from the
// config's models: to Bedrock IDs. Fields that would change the answer but Converse cannot
// honour are refused with a 400 naming the field; harmless ones are ignored.
// A body nested deeper than `max_depth` is refused before anything walks it.
// `families` maps model IDs (application inference profiles) to the family they serve.
std::variant<ChatRequest, ApiError> to_converse(std::string_view body,
                                                const std::map<std::string, std::string>& aliases,
                                                int max_depth = kDefaultMaxJsonDepth,
                                                const std::map<std::string, std::string>* families = nullptr);

// Bedrock's stopReason → OpenAI's finish_reason.
std::string_view finish_reason(std::string_view stop_reason);

// Converse's usage → chat completion's usage (cached tokens in prompt_tokens_details).
nlohmann::json usage_json(const Usage& u);

// A chat.completion, and the usage Converse's answer stated (for the audit line and limits).
struct Completion {
  std::string body;          // the chat.completion object, one line of JSON
  TokenUsage usage;          // Converse's usage as Bedrock sent it (inputTokens without the cache)
  std::string service_tier;  // the tier that served it, as the answer says (or as asked)
};

// A Converse answer's bytes → the chat.completion's bytes, read with simdjson and written
// directly (no DOM of nlohmann's on this path). Fields of the wrong type read as absent.
// nullopt when the answer is not a JSON object, or nests deeper than `max_depth`.
std::optional<Completion> completion_from_converse(std::string_view answer, const ChatRequest& request,
                                                   std::string_view id, std::int64_t created,
                                                   int max_depth = kDefaultMaxJsonDepth);

}  // namespace signgate::api::openai
