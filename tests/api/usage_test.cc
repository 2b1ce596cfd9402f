// Token usage as Bedrock reports it, in every shape an answer carries it: the audit line's
// input_tokens keep Bedrock's meaning (no cache tokens), cache reads and writes beside them,
// and the 1-hour share of the writes. Anything not a sane count reads as absent.
#include "api/usage.h"

#include <gtest/gtest.h>

#include <string>

#include "api/anthropic/messages.h"
#include "api/openai/chat.h"
#include "api/openai/sse_events.h"
#include "api/openai/stream.h"
#include "common/base64.h"

namespace signgate::api {
namespace {

using nlohmann::json;
namespace es = aws::eventstream;

TokenUsage make(std::optional<std::uint64_t> in, std::optional<std::uint64_t> out, std::optional<std::uint64_t> read,
                std::optional<std::uint64_t> write, std::optional<std::uint64_t> one_hour = std::nullopt) {
  TokenUsage u;
  u.input = in;
  u.output = out;
  u.cache_read = read;
  u.cache_write = write;
  u.cache_write_1h = one_hour;
  return u;
}

void expect_usage(const TokenUsage& got, const TokenUsage& want) {
  EXPECT_EQ(got.input, want.input);
  EXPECT_EQ(got.output, want.output);
  EXPECT_EQ(got.cache_read, want.cache_read);
  EXPECT_EQ(got.cache_write, want.cache_write);
  EXPECT_EQ(got.cache_write_1h, want.cache_write_1h);
}

constexpr auto kNone = std::nullopt;

// Only non-negative integers up to 2^40 are counts: a model or a broken proxy cannot make the
// audit line (and the bill) say 2^64.
TEST(TokenCount, OnlySaneIntegers) {
  const json j = json::parse(R"({"a":12,"b":-3,"c":1.5,"d":"7","e":true,"f":null,"g":1099511627776,
                                 "h":1099511627777,"i":18446744073709551615,"j":1e30,"k":0})");
  EXPECT_EQ(token_count(&j["a"]), 12u);
  EXPECT_EQ(token_count(&j["b"]), kNone);
  EXPECT_EQ(token_count(&j["c"]), kNone);
  EXPECT_EQ(token_count(&j["d"]), kNone);
  EXPECT_EQ(token_count(&j["e"]), kNone);
  EXPECT_EQ(token_count(&j["f"]), kNone);
  EXPECT_EQ(token_count(&j["g"]), kMaxTokenCount);
  EXPECT_EQ(token_count(&j["h"]), kNone);
  EXPECT_EQ(token_count(&j["i"]), kNone);
  EXPECT_EQ(token_count(&j["j"]), kNone);
  EXPECT_EQ(token_count(&j["k"]), 0u);
  EXPECT_EQ(token_count(static_cast<const json*>(nullptr)), kNone);
}

TEST(TokenCount, HeaderDigits) {
  EXPECT_EQ(token_count(std::string_view("12")), 12u);
  EXPECT_EQ(token_count(std::string_view("0")), 0u);
  EXPECT_EQ(token_count(std::string_view("")), kNone);
  EXPECT_EQ(token_count(std::string_view("-5")), kNone);
  EXPECT_EQ(token_count(std::string_view("+5")), kNone);
  EXPECT_EQ(token_count(std::string_view("1e3")), kNone);
  EXPECT_EQ(token_count(std::string_view("12 ")), kNone);
  EXPECT_EQ(token_count(std::string_view("1.0")), kNone);
  EXPECT_EQ(token_count(std::string_view("99999999999999999999999")), kNone);
  EXPECT_EQ(token_count(std::string_view("1099511627777")), kNone);
}

TEST(TokenUsage, UpdateFillAdd) {
  TokenUsage u = make(10, kNone, 3, kNone);
  u.update(make(kNone, 5, 4, kNone, 2));
  expect_usage(u, make(10, 5, 4, kNone, 2));
  u.fill(make(99, 99, 99, 7, 99));
  expect_usage(u, make(10, 5, 4, 7, 2));
  u.add(make(1, kNone, 1, 1));
  expect_usage(u, make(11, 5, 5, 8, 2));
  u.add(make(kMaxTokenCount, kNone, kNone, kNone));
  EXPECT_EQ(u.input, kMaxTokenCount);  // saturates, never wraps
  EXPECT_FALSE(TokenUsage{}.known());
  EXPECT_TRUE(make(kNone, kNone, 0, kNone).known());
}

// Converse: inputTokens is already without the cache; cacheDetails says the 1-hour share.
constexpr const char* kConverseAnswer = R"({"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},
  "stopReason":"end_turn","usage":{"inputTokens":21,"outputTokens":9,"totalTokens":3030,
  "cacheReadInputTokens":1000,"cacheWriteInputTokens":2000,
  "cacheDetails":[{"ttl":"1h","inputTokens":1500},{"ttl":"5m","inputTokens":500}]},
  "metrics":{"latencyMs":1},"serviceTier":{"type":"priority"}})";

TEST(ConverseUsage, EveryCountAndTheOneHourShare) {
  const json answer = json::parse(kConverseAnswer);
  expect_usage(converse_usage(answer["usage"]), make(21, 9, 1000, 2000, 1500));
  expect_usage(scan_converse_usage(kConverseAnswer), make(21, 9, 1000, 2000, 1500));
}

TEST(ConverseUsage, WithoutCacheOrDetails) {
  const std::string plain = R"({"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}})";
  expect_usage(converse_usage(json::parse(plain)["usage"]), make(3, 2, kNone, kNone));
  expect_usage(scan_converse_usage(plain), make(3, 2, kNone, kNone));
  // Only 5-minute writes: no 1-hour share.
  const std::string five = R"({"usage":{"inputTokens":3,"outputTokens":2,"cacheWriteInputTokens":8,
                              "cacheDetails":[{"ttl":"5m","inputTokens":8}]}})";
  expect_usage(converse_usage(json::parse(five)["usage"]), make(3, 2, kNone, 8));
  expect_usage(scan_converse_usage(five), make(3, 2, kNone, 8));
}

TEST(ConverseUsage, MalformedValuesReadAsAbsent) {
  const std::string odd = R"({"usage":{"inputTokens":-1,"outputTokens":2.5,"cacheReadInputTokens":"9",
      "cacheWriteInputTokens":99999999999999999999999,"cacheDetails":[{"ttl":"1h","inputTokens":-4},
      {"ttl":"1h"},7,{"ttl":5,"inputTokens":3},{"ttl":"1h","inputTokens":6}]}})";
  expect_usage(converse_usage(json::parse(odd)["usage"]), make(kNone, kNone, kNone, kNone, 6));
  expect_usage(scan_converse_usage(odd), make(kNone, kNone, kNone, kNone, 6));
  const std::string details_not_list = R"({"usage":{"inputTokens":1,"cacheDetails":{"ttl":"1h","inputTokens":6}}})";
  expect_usage(scan_converse_usage(details_not_list), make(1, kNone, kNone, kNone));
  expect_usage(converse_usage(json::parse(details_not_list)["usage"]), make(1, kNone, kNone, kNone));
  expect_usage(converse_usage(json("usage")), TokenUsage{});
  for (const std::string bad : {"", "nope", "[1,2]", R"({"usage":7})", R"({"usage":{"inputTokens":)",
                                R"({"usage":{"inputTokens":5,)", R"({"usage":"x"})"}) {
    const TokenUsage u = scan_converse_usage(bad);
    EXPECT_FALSE(u.input && *u.input != 5) << bad;
    EXPECT_FALSE(u.output) << bad;
  }
}

// A deep document costs no recursion: the nesting before the usage is skipped, the count read.
TEST(ConverseUsage, DeepNestingIsSkippedWithoutRecursion) {
  const std::string deep = R"({"output":)" + std::string(100'000, '[') + std::string(100'000, ']') +
                           R"(,"usage":{"inputTokens":4,"outputTokens":1}})";
  const TokenUsage u = scan_converse_usage(deep);
  EXPECT_FALSE(u.cache_read);  // whatever the depth limit decides, nothing is made up
  const std::string huge =
      R"({"usage":{"inputTokens":4,"outputTokens":1}, "pad":")" + std::string(1 << 20, 'x') + "\"}";
  expect_usage(scan_converse_usage(huge), make(4, 1, kNone, kNone));
}

// InvokeModel bodies, family by family, as Bedrock's model parameter pages show them.
TEST(InvokeAnswerUsage, Anthropic) {
  const std::string body = R"({"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"x"}],
      "stop_reason":"end_turn","usage":{"input_tokens":30,"cache_creation_input_tokens":3000,
      "cache_read_input_tokens":500,"output_tokens":12,
      "cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000}}})";
  expect_usage(invoke_answer_usage(body), make(30, 12, 500, 3000, 2000));
  expect_usage(anthropic_usage(json::parse(body)["usage"]), make(30, 12, 500, 3000, 2000));
  // Without caching, as older models answer.
  const std::string plain = R"({"usage":{"input_tokens":12,"output_tokens":5}})";
  expect_usage(invoke_answer_usage(plain), make(12, 5, kNone, kNone));
  expect_usage(anthropic_usage(json::parse(plain)["usage"]), make(12, 5, kNone, kNone));
}

TEST(InvokeAnswerUsage, Nova) {
  const std::string body = R"({"output":{"message":{"content":[{"text":"x"}],"role":"assistant"}},
      "stopReason":"end_turn","usage":{"inputTokens":40,"outputTokens":7,"totalTokens":1047,
      "cacheReadInputTokenCount":600,"cacheWriteInputTokenCount":400}})";
  expect_usage(invoke_answer_usage(body), make(40, 7, 600, 400));
}

TEST(InvokeAnswerUsage, Llama) {
  expect_usage(invoke_answer_usage(R"({"generation":"x","prompt_token_count":17,"generation_token_count":33,
                                       "stop_reason":"stop"})"),
               make(17, 33, kNone, kNone));
}

TEST(InvokeAnswerUsage, TitanTextSumsItsResults) {
  expect_usage(invoke_answer_usage(R"({"inputTextTokenCount":8,"results":[
      {"tokenCount":20,"outputText":"a","completionReason":"FINISH"},{"tokenCount":22,"outputText":"b"}]})"),
               make(8, 42, kNone, kNone));
  expect_usage(invoke_answer_usage(R"({"inputTextTokenCount":8,"results":[{"tokenCount":-2},{"x":1},"y",
                                       {"tokenCount":3}]})"),
               make(8, 3, kNone, kNone));
}

TEST(InvokeAnswerUsage, TitanEmbeddings) {
  expect_usage(invoke_answer_usage(R"({"embedding":[0.1,0.2,-0.3],"inputTextTokenCount":6})"),
               make(6, kNone, kNone, kNone));
}

TEST(InvokeAnswerUsage, CohereCommandR) {
  expect_usage(invoke_answer_usage(R"({"response_id":"r","text":"x","generation_id":"g","finish_reason":"COMPLETE",
      "meta":{"api_version":{"version":"1"},"billed_units":{"input_tokens":25,"output_tokens":11}}})"),
               make(25, 11, kNone, kNone));
}

// Mistral and Cohere Embed say nothing in the body: Bedrock's headers do.
TEST(InvokeAnswerUsage, NoneInTheBody) {
  EXPECT_FALSE(invoke_answer_usage(R"({"outputs":[{"text":"x","stop_reason":"stop"}]})").known());
  EXPECT_FALSE(invoke_answer_usage(R"({"id":"e","texts":["a"],"embeddings":[[0.1,0.2]],
                                       "response_type":"embeddings_floats"})")
                   .known());
}

TEST(InvokeAnswerUsage, MalformedAnswersSayNothingFalse) {
  for (const std::string bad :
       {"", "null", "[]", "\"usage\"", "{", R"({"usage":)", R"({"usage":[1,2]})",
        R"({"usage":{"input_tokens":"12","output_tokens":-1}})",
        R"({"prompt_token_count":1.5,"generation_token_count":1e400})", R"({"meta":{"billed_units":[1]}})",
        R"({"results":{"tokenCount":3}})", R"({"usage":{"input_tokens":18446744073709551616}})"}) {
    EXPECT_FALSE(invoke_answer_usage(bad).input) << bad;
    EXPECT_FALSE(invoke_answer_usage(bad).output) << bad;
  }
  // A count read before the document breaks off stays; nothing after it is invented.
  const TokenUsage cut = invoke_answer_usage(R"({"prompt_token_count":5,"generation_token_count":)");
  EXPECT_FALSE(cut.output);
  // Bytes that are not UTF-8 are not JSON.
  EXPECT_FALSE(invoke_answer_usage("{\"prompt_token_count\":5,\"x\":\"\xff\"}").known());
}

TEST(InvokeAnswerUsage, LargeAnswersUseAParserOfTheirOwn) {
  std::string body = R"({"embedding":[)";
  for (int i = 0; i < 200'000; ++i) body += i == 0 ? "0.125" : ",0.125";
  body += R"(],"inputTextTokenCount":9})";
  ASSERT_GT(body.size(), std::size_t{256} << 10);
  expect_usage(invoke_answer_usage(body), make(9, kNone, kNone, kNone));
  expect_usage(invoke_answer_usage(R"({"inputTextTokenCount":3})"), make(3, kNone, kNone, kNone));  // and back
}

TEST(InvocationMetrics, EveryCount) {
  expect_usage(invocation_metrics(json::parse(R"({"inputTokenCount":12,"outputTokenCount":5,"invocationLatency":10,
      "firstByteLatency":5,"cacheReadInputTokenCount":100,"cacheWriteInputTokenCount":200})")),
               make(12, 5, 100, 200));
  expect_usage(invocation_metrics(json::parse(R"({"inputTokenCount":"12","outputTokenCount":-5})")), TokenUsage{});
  expect_usage(invocation_metrics(json::parse("[1]")), TokenUsage{});
}

// Bedrock's OpenAI-compatible API counts the cached tokens inside the prompt tokens.
TEST(OpenAIUsage, CachedTokensComeOutOfTheInput) {
  expect_usage(openai_usage(json::parse(R"({"prompt_tokens":1200,"completion_tokens":30,"total_tokens":1230,
      "prompt_tokens_details":{"cached_tokens":1024}})")),
               make(176, 30, 1024, 0));
  expect_usage(openai_usage(json::parse(R"({"input_tokens":900,"output_tokens":8,
      "input_tokens_details":{"cached_tokens":512},"total_tokens":908})")),
               make(388, 8, 512, 0));
  expect_usage(openai_usage(json::parse(R"({"prompt_tokens":3,"completion_tokens":2})")), make(3, 2, 0, 0));
  // More cached than prompted is not believed beyond the prompt.
  expect_usage(openai_usage(json::parse(R"({"prompt_tokens":3,"completion_tokens":2,
      "prompt_tokens_details":{"cached_tokens":9}})")),
               make(0, 2, 3, 0));
  expect_usage(openai_usage(json::parse(R"({"prompt_tokens":-3,"completion_tokens":"2",
      "prompt_tokens_details":{"cached_tokens":-1}})")),
               TokenUsage{});
  expect_usage(openai_usage(json::parse(R"({"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":-1}})")),
               make(3, kNone, 0, 0));
  expect_usage(openai_usage(json(nullptr)), TokenUsage{});
}

es::Message chunk_of(const std::string& event) {
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string("chunk")}};
  m.payload = json{{"bytes", base64_encode(event)}}.dump();
  return m;
}

// Anthropic's stream: message_start says the input and the cache with its 1-hour share,
// message_delta the output, and Bedrock's metrics at the end have the last word on the totals.
TEST(AnthropicStreamUsage, StartDeltaAndMetrics) {
  anthropic::EventUnwrapper u;
  (void)u.on_message(chunk_of(R"({"type":"message_start","message":{"id":"m","type":"message","role":"assistant",
      "content":[],"usage":{"input_tokens":30,"cache_creation_input_tokens":3000,"cache_read_input_tokens":500,
      "output_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000}}}})"));
  expect_usage(u.usage, make(30, 1, 500, 3000, 2000));
  (void)u.on_message(chunk_of(R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},
      "usage":{"output_tokens":12,"input_tokens":0}})"));
  expect_usage(u.usage, make(30, 12, 500, 3000, 2000));  // the delta's input is not the input
  (void)u.on_message(chunk_of(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":30,
      "outputTokenCount":13,"cacheReadInputTokenCount":500,"cacheWriteInputTokenCount":3000}})"));
  expect_usage(u.usage, make(30, 13, 500, 3000, 2000));
  EXPECT_EQ(u.input_tokens, 30u);
  EXPECT_EQ(u.output_tokens, 13u);
}

// With a service tier to say, message_start takes the rewriting path: the usage is read there too.
TEST(AnthropicStreamUsage, ReadWhenTheStartIsRewritten) {
  anthropic::EventUnwrapper u;
  u.service_tier = "priority";
  const std::string out = u.on_message(chunk_of(R"({"type":"message_start","message":{"usage":{"input_tokens":7,
      "cache_creation_input_tokens":10,"cache_creation":{"ephemeral_1h_input_tokens":10}}}})"));
  EXPECT_NE(out.find("\"service_tier\":\"priority\""), std::string::npos);
  expect_usage(u.usage, make(7, kNone, kNone, 10, 10));
}

// Chat completions: the caller's prompt_tokens include the cache, the audit's input does not.
TEST(ChatUsage, CallerTotalsAndBedrockCountsApart) {
  openai::ChatRequest request;
  request.model_name = "claude";
  const auto done = openai::completion_from_converse(kConverseAnswer, request, "chatcmpl-1", 1);
  ASSERT_TRUE(done);
  expect_usage(done->usage, make(21, 9, 1000, 2000, 1500));
  const json body = json::parse(done->body);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3021);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 1000);
  EXPECT_EQ(done->service_tier, "priority");
  const auto odd = openai::completion_from_converse(
      R"({"output":{"message":{"content":[]}},"usage":{"inputTokens":-2,"outputTokens":3.5,
          "cacheDetails":[{"ttl":"1h","inputTokens":99999999999999}]}})",
      request, "c", 1);
  ASSERT_TRUE(odd);
  expect_usage(odd->usage, make(kNone, kNone, kNone, kNone));

  openai::ChunkTranslator t(request, "id", 1);
  (void)t.on_message(openai::testing::converse_event(
      "metadata", json::parse(R"({"usage":{"inputTokens":21,"outputTokens":9,"cacheReadInputTokens":1000,
          "cacheWriteInputTokens":2000,"cacheDetails":[{"ttl":"1h","inputTokens":1500},{"ttl":"5m","inputTokens":500}]},
          "metrics":{"latencyMs":1},"serviceTier":{"type":"flex"}})")));
  EXPECT_EQ(t.input_tokens, 3021u);  // the caller's
  expect_usage(t.usage.bedrock, make(21, 9, 1000, 2000, 1500));
  EXPECT_EQ(t.service_tier(), "flex");
}

}  // namespace
}  // namespace signgate::api
