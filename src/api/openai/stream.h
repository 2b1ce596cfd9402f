// ConverseStream events → OpenAI chat.completion.chunk SSE lines, one event at a time (no I/O).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "api/openai/chat.h"
#include "aws/eventstream.h"

namespace signgate::api::openai {

class ChunkTranslator {
 public:
  ChunkTranslator(const ChatRequest& request, std::string id, std::int64_t created);

  // The SSE text ("data: {...}\n\n", possibly several) for one decoded event-stream message;
  // empty when it maps to nothing. An exception message becomes an SSE error event.
  std::string on_message(const aws::eventstream::Message& m);
  // The closing text: the usage chunk when asked for (and known), then "data: [DONE]".
  std::string finish();
  // An SSE error event for a failure signgate saw itself (upstream broke, bad frame).
  std::string error(std::string_view message);

  std::uint64_t input_tokens = 0, output_tokens = 0;
  bool saw_usage = false;
  Usage usage;
  // The tier that served the stream: its metadata event's serviceTier, else the one asked for.
  std::string service_tier() const;

 private:
  // One chat.completion.chunk SSE event; an empty finish_reason is written as null.
  std::string chunk(const nlohmann::json& delta, std::string_view finish_reason = {});
  std::string chunk_text(std::string_view delta_json, std::string_view finish_reason);
  const ChatRequest& request_;
  std::string prefix_;  // "data: {"id":...,"choices":[{"index":0,"delta":
  std::string id_;
  std::int64_t created_;
  int tool_index_ = -1;             // OpenAI numbers tool calls 0, 1, ... in the order they start
  std::int64_t forced_block_ = -1;  // the content block of the forced JSON tool, streamed as content
  std::string served_tier_;
};

}  // namespace signgate::api::openai
