// Anthropic Messages ⇄ Bedrock InvokeModel (anthropic_version bedrock-2023-05-31), no I/O.
// The Messages body passes through, less `model` and `stream`; stream chunks are unwrapped
// (base64 bytes → the Anthropic event) and written as SSE with event: lines.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "api/anthropic/betas.h"
#include "api/json_depth.h"
#include "aws/eventstream.h"

namespace signgate::api::anthropic {

// {"type":"error","error":{"type","message"}}.
struct ApiError {
  unsigned status = 400;
  std::string type = "invalid_request_error";
  std::string message;
};
nlohmann::json error_body(const ApiError& e);
// The Anthropic error type for an HTTP status (429 → rate_limit_error, ...).
std::string error_type_for(unsigned status);

struct MessagesRequest {
  std::string model_name;
  std::string model_id;
  std::string bedrock_body;  // JSON for InvokeModel
  bool stream = false;
  std::vector<std::string> dropped_betas;  // asked for, but not among the accepted ones
};

// The betas a request asks for in its anthropic-beta header (parse_beta_header), and those
// Bedrock accepts (null: default_bedrock_betas()).
struct Betas {
  std::vector<std::string> requested;
  const std::set<std::string>* accepted = nullptr;
};

// A /v1/messages body → InvokeModel's: `model` and `stream` taken out, anthropic_version
// added, the betas merged into anthropic_beta (apply_betas). A body nested deeper than
// `max_depth` is refused before anything walks it.
std::variant<MessagesRequest, ApiError> to_invoke(std::string_view body,
                                                  const std::map<std::string, std::string>& aliases,
                                                  int max_depth = kDefaultMaxJsonDepth, const Betas& betas = {});

struct CountTokensRequest {
  std::string model_name;
  std::string model_id;
  std::string bedrock_body;  // JSON for CountTokens: {"input":{"invokeModel":{"body":"<base64>"}}}
  std::vector<std::string> dropped_betas;
};

// A /v1/messages/count_tokens body → CountTokens over the InvokeModel body it would be
// (max_tokens, which counting ignores but InvokeModel requires, added when absent).
std::variant<CountTokensRequest, ApiError> to_count_tokens(std::string_view body,
                                                           const std::map<std::string, std::string>& aliases,
                                                           int max_depth = kDefaultMaxJsonDepth,
                                                           const Betas& betas = {});

// CountTokens' answer {"inputTokens": N} → {"input_tokens": N}; nullopt when it is not that.
std::optional<std::string> from_count_tokens(std::string_view answer);

// One event-stream message of InvokeModelWithResponseStream → "event: T\ndata: {...}\n\n";
// an exception message → an SSE error event. Usage is read along the way.
class EventUnwrapper {
 public:
  std::string on_message(const aws::eventstream::Message& m);
  std::string error(std::string_view message);
  std::uint64_t input_tokens = 0, output_tokens = 0;
  int max_depth = kDefaultMaxJsonDepth;  // an event nested deeper becomes an error event
};

}  // namespace signgate::api::anthropic
