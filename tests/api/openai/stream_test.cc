// ConverseStream events → chat.completion.chunk SSE, as the openai package reads them.
#include "api/openai/stream.h"

#include <gtest/gtest.h>

#include "api/openai/sse_events.h"

namespace signgate::api::openai {
namespace {

using nlohmann::json;
using testing::converse_event;
using testing::sse_data;
namespace es = aws::eventstream;

ChatRequest request(bool usage) {
  ChatRequest r;
  r.model_name = "claude-haiku";
  r.include_usage = usage;
  return r;
}

// A whole transcript: role first, content deltas, the finish chunk, the usage chunk, [DONE].
TEST(OpenAiStream, TextTranscript) {
  const auto req = request(true);
  ChunkTranslator t(req, "chatcmpl-1", 1700000000);
  std::string sse;
  sse += t.on_message(converse_event("messageStart", {{"role", "assistant"}}));
  sse += t.on_message(converse_event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hel"}}}}));
  sse += t.on_message(converse_event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "lo"}}}}));
  sse += t.on_message(converse_event("contentBlockStop", {{"contentBlockIndex", 0}}));
  sse += t.on_message(converse_event("messageStop", {{"stopReason", "max_tokens"}}));
  sse += t.on_message(
      converse_event("metadata", {{"usage", {{"inputTokens", 3}, {"outputTokens", 2}, {"totalTokens", 5}}}}));
  sse += t.finish();
  const auto c = sse_data(sse);
  ASSERT_EQ(c.size(), 6u) << sse;
  EXPECT_EQ(c[0]["choices"][0]["delta"], json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_EQ(c[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(c[0]["model"], "claude-haiku");
  EXPECT_EQ(c[1]["choices"][0]["delta"]["content"], "Hel");
  EXPECT_EQ(c[2]["choices"][0]["delta"]["content"], "lo");
  EXPECT_EQ(c[3]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(c[4]["choices"], json::array());
  EXPECT_EQ(c[4]["usage"], json::parse(R"({"prompt_tokens":3,"completion_tokens":2,"total_tokens":5})"));
  EXPECT_EQ(c[5], "[DONE]");
}

TEST(OpenAiStream, UsageOnlyWhenAsked) {
  const auto req = request(false);
  ChunkTranslator t(req, "id", 1);
  (void)t.on_message(converse_event("metadata", {{"usage", {{"inputTokens", 3}, {"outputTokens", 2}}}}));
  EXPECT_EQ(t.finish(), "data: [DONE]\n\n");
  EXPECT_EQ(t.input_tokens, 3u);
}

// Tool calls stream as index/id/name first, then argument pieces.
TEST(OpenAiStream, ToolCallDeltas) {
  const auto req = request(false);
  ChunkTranslator t(req, "id", 1);
  auto start = sse_data(t.on_message(converse_event(
      "contentBlockStart",
      {{"contentBlockIndex", 1}, {"start", {{"toolUse", {{"toolUseId", "tu_1"}, {"name", "get_weather"}}}}}})));
  auto args = sse_data(t.on_message(converse_event(
      "contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"toolUse", {{"input", "{\"city\":"}}}}}})));
  auto stop = sse_data(t.on_message(converse_event("messageStop", {{"stopReason", "tool_use"}})));
  EXPECT_EQ(
      start[0]["choices"][0]["delta"]["tool_calls"],
      json::parse(R"([{"index":0,"id":"tu_1","type":"function","function":{"name":"get_weather","arguments":""}}])"));
  EXPECT_EQ(args[0]["choices"][0]["delta"]["tool_calls"],
            json::parse(R"([{"index":0,"function":{"arguments":"{\"city\":"}}])"));
  EXPECT_EQ(stop[0]["choices"][0]["finish_reason"], "tool_calls");
}

// An exception mid-stream becomes an SSE error event (then the caller's stream ends cleanly).
TEST(OpenAiStream, ExceptionBecomesAnErrorEvent) {
  const auto req = request(false);
  ChunkTranslator t(req, "id", 1);
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("exception")},
               {":exception-type", es::HeaderValue::string("throttlingException")}};
  m.payload = R"({"message":"slow down"})";
  const auto c = sse_data(t.on_message(m));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["error"]["message"], "throttlingException: slow down");
}

// Bedrock's words about signgate's own identity (an ARN, an account) do not reach the caller.
TEST(OpenAiStream, ExceptionTextLosesArnsAndAccounts) {
  const auto req = request(false);
  ChunkTranslator t(req, "id", 1);
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("exception")},
               {":exception-type", es::HeaderValue::string("validationException")}};
  m.payload = R"({"message":"arn:aws:bedrock:us-east-1:123456789012:inference-profile/x is not in 123456789012"})";
  const auto c = sse_data(t.on_message(m));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["error"]["message"], "validationException: <bedrock inference-profile ARN> is not in <account>");
}

// Found by fuzzing: stream events whose fields have the wrong type read as absent.
TEST(OpenAiStream, WrongTypedEventFieldsDoNotThrow) {
  const ChatRequest req = request(true);
  ChunkTranslator t(req, "chatcmpl-1", 1700000000);
  EXPECT_NO_THROW(t.on_message(converse_event("contentBlockStart", json::parse(R"({"start":{"toolUse":7}})"))));
  EXPECT_NO_THROW(t.on_message(converse_event("contentBlockStart", json::parse(R"({"start":[1]})"))));
  EXPECT_NO_THROW(t.on_message(converse_event("contentBlockDelta", json::parse(R"({"delta":"text"})"))));
  const auto stop = sse_data(t.on_message(converse_event("messageStop", json::parse(R"({"stopReason":1})"))));
  ASSERT_EQ(stop.size(), 1u);
  EXPECT_EQ(stop[0]["choices"][0]["finish_reason"], "stop");
  EXPECT_NO_THROW(
      t.on_message(converse_event("metadata", json::parse(R"({"usage":{"inputTokens":"x","outputTokens":2}})"))));
  EXPECT_EQ(t.input_tokens, 0u);
  EXPECT_EQ(t.output_tokens, 2u);
}

}  // namespace
}  // namespace signgate::api::openai
