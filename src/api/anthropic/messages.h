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
#include "api/anthropic/token_estimate.h"
#include "api/json_depth.h"
#include "api/usage.h"
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
  // Bedrock's service tier to ask for in X-Amzn-Bedrock-Service-Tier ("priority", "flex");
  // empty: none (Bedrock's default, the standard tier).
  std::string service_tier;
};

// The betas a request asks for in its anthropic-beta header (parse_beta_header), and the policy
// choosing those Bedrock accepts for the request's model (null: the shipped defaults).
struct Betas {
  std::vector<std::string> requested;
  const BetaPolicy* policy = nullptr;
};

// A /v1/messages body → InvokeModel's: `model` and `stream` taken out, anthropic_version
// added, the betas merged into anthropic_beta (apply_betas, with what the policy accepts for the
// model ID the alias resolves to). Anthropic's `service_tier` is taken out too: "auto" and
// "standard_only" are Bedrock's default tier; signgate also takes "priority" and "flex", asked
// for in the header (service_tier) where the model has them (api/service_tier.h; Claude has them
// nowhere yet, so its answer says "standard"); anything else is a 400.
// A body nested deeper than `max_depth` is refused before anything walks it.
std::variant<MessagesRequest, ApiError> to_invoke(std::string_view body,
                                                  const std::map<std::string, std::string>& aliases,
                                                  int max_depth = kDefaultMaxJsonDepth, const Betas& betas = {});

struct CountTokensRequest {
  std::string model_name;
  std::string model_id;
  std::string bedrock_body;  // JSON for CountTokens: {"input":{"invokeModel":{"body":"<base64>"}}}
  std::vector<std::string> dropped_betas;
  std::uint64_t estimate = 0;  // estimate_input_tokens of the request, for a model CountTokens refuses
};

// A /v1/messages/count_tokens body → CountTokens over the InvokeModel body it would be
// (max_tokens, which counting ignores but InvokeModel requires, added when absent).
std::variant<CountTokensRequest, ApiError> to_count_tokens(std::string_view body,
                                                           const std::map<std::string, std::string>& aliases,
                                                           int max_depth = kDefaultMaxJsonDepth,
                                                           const Betas& betas = {});

// CountTokens' answer {"inputTokens": N} → {"input_tokens": N}; nullopt when it is not that.
std::optional<std::string> from_count_tokens(std::string_view answer);

// The foundation model a system-defined cross-Region inference profile serves
// ("us.anthropic.claude-sonnet-4-5-20250929-v1:0" → "anthropic.claude-sonnet-4-5-20250929-v1:0"):
// CountTokens refuses profile IDs but counts their model. Any other ID comes back as it is.
std::string profile_model(std::string_view model_id);

// Whether Bedrock's error answer is CountTokens refusing the model itself (400
// ValidationException "The provided model doesn't support counting tokens."), which count_tokens
// answers with an estimate; every other error stays an error.
bool counting_unsupported(unsigned status, std::string_view error_type, std::string_view body);

// Anthropic's usage.service_tier for the tier Bedrock named in X-Amzn-Bedrock-Service-Tier:
// "standard" for its default (or none named), else Bedrock's name ("priority", "flex").
std::string_view anthropic_service_tier(std::string_view bedrock_tier);

// A whole InvokeModel answer with usage.service_tier set to `tier`; the answer as it is when it
// is not a JSON object with a usage object.
std::string with_service_tier(std::string answer, std::string_view tier, int max_depth);

// One event-stream message of InvokeModelWithResponseStream → "event: T\ndata: {...}\n\n";
// an exception message → an SSE error event. Usage is read along the way.
class EventUnwrapper {
 public:
  std::string on_message(const aws::eventstream::Message& m);
  std::string error(std::string_view message);
  std::uint64_t input_tokens = 0, output_tokens = 0;
  // Bedrock's usage for the audit line: message_start's (input, cache reads and writes, the
  // 1-hour share), message_delta's output, then the last chunk's invocation metrics.
  TokenUsage usage;
  int max_depth = kDefaultMaxJsonDepth;  // an event nested deeper becomes an error event
  std::string service_tier;              // set: message_start's usage.service_tier

 private:
  void read_usage(const nlohmann::json& event);
};

}  // namespace signgate::api::anthropic
