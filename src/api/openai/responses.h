// OpenAI's Responses API ⇄ Bedrock Converse, as pure JSON transforms (no I/O).
// Requests: input as a string or items (messages with text, image and file parts,
// function_call and function_call_output, custom tool calls, reasoning, item_reference),
// instructions, function and custom tools, tool_choice, sampling limits, text.format,
// reasoning.effort, previous_response_id. Answers: the response object with its output items
// (message, function_call, custom_tool_call, reasoning) and usage; streams: the typed events
// (response.created ... response.completed) each with its sequence_number.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/json_depth.h"
#include "api/openai/converse_parts.h"
#include "api/openai/responses_tools.h"
#include "api/service_tier.h"
#include "aws/eventstream.h"

namespace signgate::api::openai {

// What earlier responses said, as the caller's store keeps them (previous_response_id,
// item_reference, a reasoning item sent back without its content).
class ResponseHistory {
 public:
  virtual ~ResponseHistory() = default;
  // Every item of the conversation up to and including response `id`, oldest first; or why not.
  virtual std::variant<nlohmann::json, std::string> conversation(std::string_view id) const = 0;
  virtual std::optional<nlohmann::json> item(std::string_view item_id) const = 0;
};

struct ResponsesRequest {
  std::string model_name;   // as the client named it (echoed back)
  std::string model_id;     // the Bedrock model ID, inference profile or ARN
  nlohmann::json converse;  // the Converse request body
  bool stream = false;
  bool store = true;                 // OpenAI's default: kept for previous_response_id
  bool encrypted_reasoning = false;  // include: ["reasoning.encrypted_content"]
  bool thinking = false;
  std::string previous_response_id;
  std::string user;                          // user or safety_identifier, for the audit log
  std::string family;                        // the model ID behaviour is chosen by (models: family, else model_id)
  std::string forced_tool;                   // a JSON answer asked for through a tool
  ToolPlan tools;                            // tool names both ways, free-form tools, built-in tools dropped
  ServiceTier tier = ServiceTier::kDefault;  // what Converse is asked for (service_tier)
  nlohmann::json input_items;                // this request's input as items (what a store keeps)
  nlohmann::json echo;                       // the request's settings, echoed in the response object
};

struct ResponsesOptions {
  int max_depth = kDefaultMaxJsonDepth;
  // What the stored items a request names (item_reference, reasoning by id) may add to it,
  // each use counted.
  std::size_t max_stored_bytes = 20u << 20;
  bool refuse_hosted_tools = false;  // responses.hosted_tools: refuse (else they are dropped)
  // models: families: model ID (an application inference profile ARN) → the family it serves.
  const std::map<std::string, std::string>* families = nullptr;
};

// Parses and translates a /v1/responses body. `history` resolves previous_response_id and
// item_reference (null: no store, both refused). Fields Converse cannot honour (background,
// conversation, prompt templates, logprobs) are a 400 naming the field; built-in tools are
// dropped or refused (responses_tools.h).
std::variant<ResponsesRequest, ApiError> responses_to_converse(std::string_view body,
                                                               const std::map<std::string, std::string>& aliases,
                                                               const ResponseHistory* history,
                                                               const ResponsesOptions& options = {});

// Builds response objects and output items for one response id.
class ResponseBuilder {
 public:
  ResponseBuilder(const ResponsesRequest& request, std::string request_id, std::int64_t created_at);

  const std::string& id() const { return id_; }
  // An output item id: "msg_<request>_<n>", "fc_...", "rs_...".
  std::string item_id(std::string_view prefix);
  // The response object in `status` with `output` (and usage when known).
  nlohmann::json response(std::string_view status, const nlohmann::json& output, const Usage* usage,
                          const nlohmann::json& incomplete = nullptr, const nlohmann::json& error = nullptr) const;
  // The same, serialised, with output items that are serialised already.
  std::string response_text(std::string_view status, const std::vector<std::string>& output, const Usage* usage,
                            const nlohmann::json& incomplete = nullptr, const nlohmann::json& error = nullptr) const;
  // A reasoning item from Converse reasoning blocks (text, signature, redacted content).
  nlohmann::json reasoning_item(std::string id, const std::string& text, const nlohmann::json& blocks) const;
  nlohmann::json tool_item(std::string id, const std::string& call_id, const std::string& name,
                           const std::string& input) const;
  static nlohmann::json message_item(std::string id, const std::string& text, std::string_view status,
                                     nlohmann::json annotations = nlohmann::json::array());
  // The caller's name (and namespace) for a tool the model called by its Converse name.
  CallerTool caller_tool(const std::string& converse_name) const;
  // The tier Bedrock says served the call (its answer's or stream's serviceTier), for the
  // response's service_tier; until it says, the one asked for.
  void served(std::string_view tier) { served_tier_ = std::string(tier); }
  const std::string& served_tier() const { return served_tier_; }
  // stopReason → the response's status and incomplete_details.
  static std::pair<std::string_view, nlohmann::json> outcome(std::string_view stop_reason);

  const ResponsesRequest& request() const { return request_; }

 private:
  const ResponsesRequest& request_;
  std::string request_id_;
  std::string id_;
  std::int64_t created_at_;
  int next_item_ = 0;
  std::string served_tier_;
};

// A Converse answer → the response object.
nlohmann::json response_from_converse(const nlohmann::json& answer, ResponseBuilder& b);

// ConverseStream events → Responses API server-sent events, one event-stream message at a time.
class ResponseEventTranslator {
 public:
  explicit ResponseEventTranslator(ResponseBuilder& builder) : b_(builder) {}

  // response.created and response.in_progress.
  std::string start();
  std::string on_message(const aws::eventstream::Message& m);
  // The closing events: the open item's done events, then response.completed (or
  // response.incomplete); nothing after a failure.
  std::string finish();
  // error and response.failed for a failure signgate saw itself (upstream broke, bad frame).
  std::string error(std::string_view message);

  // The output items made so far (all of them once finished).
  const nlohmann::json& output() const { return output_; }
  bool completed() const { return completed_; }
  Usage usage;

 private:
  enum class Kind { kNone, kText, kTool, kReasoning };
  std::string event(std::string_view type, nlohmann::json payload);
  // An event whose fields (`"k":v,...`) are written already.
  std::string raw_event(std::string_view type, std::string_view fields);
  // output_item.done for `item`, which joins the output.
  std::string item_done(std::int64_t index, nlohmann::json item);
  std::string open(Kind kind, std::int64_t block, const nlohmann::json& start);
  std::string close();
  std::string fail(std::string_view code, std::string_view message);
  std::string cite(std::int64_t block, const nlohmann::json& citation);

  ResponseBuilder& b_;
  std::uint64_t sequence_ = 0;
  nlohmann::json output_ = nlohmann::json::array();
  std::vector<std::string> output_json_;  // the same items, serialised once
  std::string stop_reason_ = "end_turn";
  bool completed_ = false;
  bool failed_ = false;
  // The item being streamed: Converse sends one content block at a time.
  Kind kind_ = Kind::kNone;
  std::int64_t block_ = -1;
  std::string item_id_, call_id_, name_, text_, signature_;
  std::string delta_prefix_;  // the open message's output_text.delta event up to its "delta":
  nlohmann::json redacted_ = nlohmann::json::array();
  bool custom_ = false;
  // The open message's url_citation annotations (Nova web grounding), and how much of its text
  // (in characters) earlier ones cover: a citation covers the text since the one before.
  nlohmann::json annotations_ = nlohmann::json::array();
  std::size_t cited_ = 0, cited_bytes_ = 0;
  std::int64_t skipped_block_ = -1;  // a server tool's block (Nova's grounding call): not the caller's
};

// The opaque encrypted_content of a reasoning item: Converse's reasoning blocks, to be sent
// back in a later turn exactly as the model made them (Bedrock checks their signatures).
std::string seal_reasoning(const nlohmann::json& blocks);
std::optional<nlohmann::json> open_reasoning(std::string_view sealed);
// Whether encrypted_content is in signgate's form (a Converse model's reasoning) rather than
// another's (OpenAI's, for a model on Bedrock's OpenAI-compatible API).
bool is_sealed_here(std::string_view sealed);

}  // namespace signgate::api::openai
