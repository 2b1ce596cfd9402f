// Models Bedrock serves through its OpenAI-compatible API (GPT-5.x and gpt-oss, on Mantle or on
// bedrock-runtime's /openai/v1): the caller's /v1/chat/completions or /v1/responses request goes
// on as it is, with the model as Bedrock names it, and the answer comes back as it is, with the
// model as the caller named it, read on the way for its usage (and, for the Responses API, its
// output items, which signgate's own store keeps: previous_response_id is expanded here from
// that store and never reaches Bedrock's, so one client cannot continue another's response).
// Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "api/json_depth.h"
#include "api/openai/converse_parts.h"
#include "api/openai/responses.h"
#include "api/usage.h"

namespace signgate::api::openai {

// One server-sent event: its type (the `event:` field, empty when none) and its data.
struct SseEvent {
  std::string event;
  std::string data;
};

// Splits a server-sent event stream (text/event-stream) into events as its bytes arrive: lines
// end in LF, CRLF or CR; `data:` lines join with LF; comments and other fields are skipped.
class SseReader {
 public:
  explicit SseReader(std::size_t max_event_bytes = 16u << 20) : max_(max_event_bytes) {}
  // Adds bytes; false once an unfinished event holds more than the cap (the stream is broken).
  bool feed(std::string_view bytes);
  // The next whole event; nullopt until one has arrived. Each byte is looked at once.
  std::optional<SseEvent> next();
  // No event is half received (what is left is at most comments or fields without data): the
  // stream may end here.
  bool idle() const;

 private:
  std::string buf_;
  std::size_t pos_ = 0;   // the next line to read
  std::size_t scan_ = 0;  // where its end is looked for (what is before was looked at)
  std::size_t event_bytes_ = 0;
  std::size_t max_;
  SseEvent partial_;   // the event being read
  bool data_ = false;  // it has a data field
};

enum class OpenAIApi { kChat, kResponses };

// A request as it goes to Bedrock's OpenAI-compatible endpoint.
struct OpenAIUpstreamRequest {
  OpenAIApi api = OpenAIApi::kChat;
  std::string model_name;  // as the caller named it (given back in the answer)
  std::string model_id;    // as Bedrock names it (sent)
  bool stream = false;
  bool include_usage = false;      // chat: the caller asked for the usage chunk
  bool include_encrypted = false;  // responses: the caller asked for reasoning.encrypted_content
  std::string user;                // OpenAI's user or safety_identifier, for the audit line
  std::string body;                // the JSON sent
  // Responses: what signgate's store keeps of this turn, as for translated requests.
  bool store = true;
  std::string previous_response_id;
  nlohmann::json input_items = nlohmann::json::array();
};

// A /v1/chat/completions body for `model_id`: the model replaced, and a stream made to end with
// its usage chunk (dropped on the way back when the caller did not ask for it).
std::variant<OpenAIUpstreamRequest, ApiError> chat_for_openai(const nlohmann::json& request,
                                                              const std::string& model_name,
                                                              const std::string& model_id);

// A /v1/responses body for `model_id`: previous_response_id and item_reference items expanded
// from `history` (null: no store, both refused) within `max_stored_bytes`; sent with store
// false and the reasoning's encrypted content included (the next turn sends it back).
// background and conversation need Bedrock's store: refused.
std::variant<OpenAIUpstreamRequest, ApiError> responses_for_openai(const nlohmann::json& request,
                                                                   const std::string& model_name,
                                                                   const std::string& model_id,
                                                                   const ResponseHistory* history,
                                                                   std::size_t max_stored_bytes);

// What an answer said about itself.
struct OpenAIAnswerFacts {
  TokenUsage usage;  // as Bedrock's meaning has it: input without the cached tokens
  std::string service_tier;
  std::string response_id;                          // Responses: the response's id
  nlohmann::json output = nlohmann::json::array();  // Responses: its output items
  bool completed = false;                           // Responses: it completed (to be kept)
  std::uint64_t content_events = 0;                 // deltas seen (each at least one token), for an estimate
  std::string failure;                              // an error the stream itself carried (error, response.failed)
};

// A whole answer (a chat.completion or a response object) as the caller gets it: the model as
// it named it. nullopt when it is not a JSON object within `max_depth`.
std::optional<std::string> openai_answer(std::string_view answer, const OpenAIUpstreamRequest& request,
                                         OpenAIAnswerFacts& facts, int max_depth = kDefaultMaxJsonDepth);

// A stream's events, one at a time, as the caller gets them.
class OpenAIStreamRewriter {
 public:
  explicit OpenAIStreamRewriter(const OpenAIUpstreamRequest& request, int max_depth = kDefaultMaxJsonDepth)
      : request_(request), max_depth_(max_depth) {}
  // The event's text ("event: T\ndata: ...\n\n"), or empty when the caller is not to see it.
  std::string on_event(const SseEvent& e);
  // An error event for a failure signgate saw itself (the stream broke).
  std::string error(std::string_view message) const;

  OpenAIAnswerFacts facts;

 private:
  const OpenAIUpstreamRequest& request_;
  int max_depth_;
  std::uint64_t next_sequence_ = 0;  // Responses: the sequence_number an event of signgate's takes
};

// An error answer from the OpenAI-compatible endpoint ({"error":{...}}, or Bedrock's
// {"message"}) → its message (ARNs and accounts taken out), code and param.
ApiError openai_error(unsigned status, std::string_view body, int max_depth = kDefaultMaxJsonDepth);

}  // namespace signgate::api::openai
