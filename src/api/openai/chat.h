// OpenAI chat completions ⇄ Bedrock Converse, as pure JSON transforms (no I/O).
// Requests: model (ID, inference profile, ARN or alias), messages with every role, text and
// base64 image parts, sampling limits, stop, tools and tool results. Responses: the
// chat.completion object with the finish reason and usage mapped.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "api/json_depth.h"

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

struct ChatRequest {
  std::string model_name;   // as the client named it (echoed back)
  std::string model_id;     // the Bedrock model ID, inference profile or ARN
  nlohmann::json converse;  // the Converse request body
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string user;            // kept for the audit log
};

// Parses and translates a /v1/chat/completions body. `aliases` maps names from the
// config's models: to Bedrock IDs. Fields that would change the answer but Converse cannot
// honour are refused with a 400 naming the field; harmless ones are ignored.
// A body nested deeper than `max_depth` is refused before anything walks it.
std::variant<ChatRequest, ApiError> to_converse(std::string_view body,
                                                const std::map<std::string, std::string>& aliases,
                                                int max_depth = kDefaultMaxJsonDepth);

// Bedrock's stopReason → OpenAI's finish_reason.
std::string_view finish_reason(std::string_view stop_reason);

// A Converse answer → chat.completion.
nlohmann::json from_converse(const nlohmann::json& answer, const ChatRequest& request, std::string_view id,
                             std::int64_t created);

}  // namespace signgate::api::openai
