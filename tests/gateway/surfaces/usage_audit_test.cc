// What Bedrock reported lands in the audit record: counts replace or fill in, a cache count
// never stays null beside known tokens, and the 1-hour writes never exceed the writes. The
// native stream relay reads every usage shape on its way through.
#include "gateway/stream_relay.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "common/base64.h"

namespace signgate::gateway {
namespace {

using nlohmann::json;
namespace es = aws::eventstream;

api::TokenUsage usage(std::optional<std::uint64_t> in, std::optional<std::uint64_t> out,
                      std::optional<std::uint64_t> read = std::nullopt,
                      std::optional<std::uint64_t> write = std::nullopt,
                      std::optional<std::uint64_t> one_hour = std::nullopt) {
  api::TokenUsage u;
  u.input = in;
  u.output = out;
  u.cache_read = read;
  u.cache_write = write;
  u.cache_write_1h = one_hour;
  return u;
}

TEST(AuditUsage, ReplacesAndZeroesTheCacheCounts) {
  AuditRecord a;
  a.input_tokens = 99;  // Bedrock's headers, say
  audit_usage(a, usage(12, 5));
  EXPECT_EQ(a.input_tokens, 12u);
  EXPECT_EQ(a.output_tokens, 5u);
  EXPECT_EQ(a.cache_read_tokens, 0u);
  EXPECT_EQ(a.cache_write_tokens, 0u);
  EXPECT_EQ(a.cache_write_1h_tokens, 0u);
}

TEST(AuditUsage, OnlyMissingKeepsTheHeadersCounts) {
  AuditRecord a;
  a.input_tokens = 30;
  a.output_tokens = 12;
  a.cache_write_tokens = 3000;
  audit_usage(a, usage(31, 13, 500, 2999, 2000), true);
  EXPECT_EQ(a.input_tokens, 30u);
  EXPECT_EQ(a.output_tokens, 12u);
  EXPECT_EQ(a.cache_read_tokens, 500u);  // the headers did not say it
  EXPECT_EQ(a.cache_write_tokens, 3000u);
  EXPECT_EQ(a.cache_write_1h_tokens, 2000u);  // only the body says it
}

TEST(AuditUsage, OneHourWritesAtMostTheWrites) {
  AuditRecord a;
  audit_usage(a, usage(1, 1, 0, 10, 50));
  EXPECT_EQ(a.cache_write_1h_tokens, 10u);
  AuditRecord b;
  audit_usage(b, usage(1, 1, std::nullopt, std::nullopt, 50));
  EXPECT_EQ(b.cache_write_tokens, 0u);
  EXPECT_EQ(b.cache_write_1h_tokens, 0u);
}

TEST(AuditUsage, NothingKnownLeavesTheRecordNull) {
  AuditRecord a;
  audit_usage(a, api::TokenUsage{});
  EXPECT_FALSE(a.input_tokens);
  EXPECT_FALSE(a.cache_read_tokens);
  EXPECT_FALSE(a.cache_write_tokens);
}

std::string frame(const std::string& type, const std::string& payload) {
  return es::encode(
      {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string(type)}}, payload);
}

std::string chunk(const std::string& inner) { return frame("chunk", json{{"bytes", base64_encode(inner)}}.dump()); }

void expect(const api::TokenUsage& got, const api::TokenUsage& want) {
  EXPECT_EQ(got.input, want.input);
  EXPECT_EQ(got.output, want.output);
  EXPECT_EQ(got.cache_read, want.cache_read);
  EXPECT_EQ(got.cache_write, want.cache_write);
  EXPECT_EQ(got.cache_write_1h, want.cache_write_1h);
}

// ConverseStream's metadata event: the usage with cacheDetails, and the tier that served.
TEST(FrameAlignerUsage, ConverseStreamMetadata) {
  FrameAligner frames;
  const std::string wire =
      frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"hi"}})") +
      frame("metadata", R"({"usage":{"inputTokens":21,"outputTokens":9,"totalTokens":3030,"cacheReadInputTokens":1000,
          "cacheWriteInputTokens":2000,"cacheDetails":[{"ttl":"1h","inputTokens":1500},{"ttl":"5m","inputTokens":500}]},
          "metrics":{"latencyMs":1},"serviceTier":{"type":"flex"}})");
  ASSERT_TRUE(frames.push(wire));
  expect(frames.usage, usage(21, 9, 1000, 2000, 1500));
  EXPECT_EQ(frames.service_tier, "flex");
  EXPECT_EQ(frames.content_events, 1u);
}

TEST(FrameAlignerUsage, TierThatIsNoWordIsNotKept) {
  FrameAligner frames;
  ASSERT_TRUE(frames.push(frame("metadata", R"({"usage":{"inputTokens":1},"serviceTier":{"type":"Pri ority\n"}})")));
  EXPECT_EQ(frames.service_tier, "");
}

// InvokeModelWithResponseStream of Claude: message_start, message_delta, then the metrics.
TEST(FrameAlignerUsage, AnthropicInvokeStream) {
  FrameAligner frames;
  std::string wire = chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":30,
      "cache_creation_input_tokens":3000,"cache_read_input_tokens":500,"output_tokens":1,
      "cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000}}}})");
  ASSERT_TRUE(frames.push(wire));
  expect(frames.usage, usage(30, 1, 500, 3000, 2000));
  ASSERT_TRUE(frames.push(chunk(R"({"type":"message_delta","usage":{"output_tokens":12}})")));
  EXPECT_EQ(frames.usage.output, 12u);
  ASSERT_TRUE(frames.push(chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":30,
      "outputTokenCount":13,"cacheReadInputTokenCount":500,"cacheWriteInputTokenCount":3000}})")));
  expect(frames.usage, usage(30, 13, 500, 3000, 2000));
}

// Any other family's stream (Nova, Llama, ...): only the last chunk's metrics.
TEST(FrameAlignerUsage, MetricsOfAnyFamily) {
  FrameAligner frames;
  const std::string wire = chunk(R"({"contentBlockDelta":{"delta":{"text":"x"}}})") +
                           chunk(R"({"metadata":{"usage":{"inputTokens":40}},"amazon-bedrock-invocationMetrics":{
                               "inputTokenCount":40,"outputTokenCount":7,"cacheReadInputTokenCount":600,
                               "cacheWriteInputTokenCount":400,"invocationLatency":3}})");
  ASSERT_TRUE(frames.push(wire));
  expect(frames.usage, usage(40, 7, 600, 400));
  EXPECT_EQ(frames.content_events, 2u);
}

TEST(FrameAlignerUsage, MalformedCountsAreIgnored) {
  FrameAligner frames;
  const std::string wire = chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":-1,
          "outputTokenCount":1.5,"cacheReadInputTokenCount":"3","cacheWriteInputTokenCount":1e300}})") +
                           chunk("not json amazon-bedrock-invocationMetrics") + frame("chunk", R"({"bytes":"***"})") +
                           frame("metadata", R"({"usage":[1,2,3]})") + frame("metadata", "{");
  ASSERT_TRUE(frames.push(wire));
  EXPECT_FALSE(frames.usage.known());
}

}  // namespace
}  // namespace signgate::gateway
