// Anthropic Messages ⇄ InvokeModel: the body Bedrock gets, and the SSE the SDK reads.
#include "api/anthropic/messages.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace signgate::api::anthropic {
namespace {

using nlohmann::json;
namespace es = aws::eventstream;

TEST(AnthropicRequest, ModelAndStreamMoveOutVersionGoesIn) {
  auto r = to_invoke(R"({"model":"claude-haiku","max_tokens":20,"stream":true,"system":"Be brief",
                         "messages":[{"role":"user","content":"Hi"}]})",
                     {{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}});
  ASSERT_TRUE(std::holds_alternative<MessagesRequest>(r));
  const auto& m = std::get<MessagesRequest>(r);
  EXPECT_EQ(m.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_TRUE(m.stream);
  EXPECT_EQ(json::parse(m.bedrock_body), json::parse(R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":20,
      "system":"Be brief","messages":[{"role":"user","content":"Hi"}]})"));
}

TEST(AnthropicRequest, MissingFieldsAreInvalidRequests) {
  EXPECT_EQ(std::get<ApiError>(to_invoke(R"({"max_tokens":1,"messages":[]})", {})).message, "model: field required");
  EXPECT_EQ(std::get<ApiError>(to_invoke(R"({"model":"m","messages":[]})", {})).message, "max_tokens: field required");
  EXPECT_EQ(std::get<ApiError>(to_invoke("nope", {})).status, 400u);
  EXPECT_EQ(error_body({429, error_type_for(429), "slow"}),
            json::parse(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow"}})"));
  EXPECT_EQ(error_type_for(503), "overloaded_error");
}

TEST(AnthropicStream, ChunksAreUnwrappedIntoEvents) {
  EventUnwrapper u;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string("chunk")}};
  const std::string event =
      R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":5}})";
  m.payload = json{{"bytes", base64_encode(event)}}.dump();
  EXPECT_EQ(u.on_message(m), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  EXPECT_EQ(u.output_tokens, 5u);
  EXPECT_EQ(u.input_tokens, 12u);
}

es::Message chunk_of(const std::string& event) {
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string("chunk")}};
  m.payload = json{{"bytes", base64_encode(event)}}.dump();
  return m;
}

// Ordinary events pass through byte for byte (only their type is read); one spread over
// lines is rewritten on one line, since an SSE data: field cannot hold a line break.
TEST(AnthropicStream, OrdinaryEventsPassThroughAndMultiLineOnesAreRewritten) {
  EventUnwrapper u;
  const std::string delta =
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"h\u00e9"}})";
  EXPECT_EQ(u.on_message(chunk_of(delta)), "event: content_block_delta\ndata: " + delta + "\n\n");
  const std::string spread = "{\n  \"type\": \"ping\"\n}";
  EXPECT_EQ(u.on_message(chunk_of(spread)), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
  // A type with a line break would inject SSE lines: such an event is dropped.
  EXPECT_EQ(u.on_message(chunk_of(R"({"type":"evil\nevent: x"})")), "");
}

TEST(AnthropicStream, ExceptionsBecomeErrorEvents) {
  EventUnwrapper u;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("exception")},
               {":exception-type", es::HeaderValue::string("modelStreamErrorException")}};
  m.payload = R"({"message":"boom"})";
  EXPECT_EQ(u.on_message(m),
            "event: error\ndata: {\"error\":{\"message\":\"modelStreamErrorException: "
            "boom\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n");
}

// Bedrock's words about signgate's own identity (an ARN, an account) do not reach the caller.
TEST(AnthropicStream, ExceptionTextLosesArnsAndAccounts) {
  EventUnwrapper u;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("exception")},
               {":exception-type", es::HeaderValue::string("validationException")}};
  m.payload = R"({"message":"User: arn:aws:sts::123456789012:assumed-role/r/s may not"})";
  EXPECT_EQ(u.on_message(m),
            "event: error\ndata: {\"error\":{\"message\":\"validationException: User: <sts assumed-role ARN> may "
            "not\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n");
}

}  // namespace
}  // namespace signgate::api::anthropic
