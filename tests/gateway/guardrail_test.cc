// A client's guardrail goes on every call, whatever the caller sent.
#include "gateway/guardrail.h"
#include "gateway/async_invocations.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace signgate::gateway {
namespace {

using nlohmann::json;
const config::GuardrailConfig kGuard{"gr0abc123", "3"};

// InvokeModel takes the guardrail as headers: the caller's own are replaced, not added to.
TEST(Guardrail, InvokeHeadersAreReplaced) {
  UpstreamCall call;
  call.operation = aws::Operation::kInvokeStream;
  call.headers = {{"Content-Type", "application/json"},
                  {"x-amzn-bedrock-guardrailidentifier", "other"},
                  {"X-Amzn-Bedrock-GuardrailVersion", "DRAFT"}};
  call.body = R"({"messages":[]})";
  EXPECT_FALSE(enforce_guardrail(call, kGuard, 128));
  ASSERT_EQ(call.headers.size(), 3u);
  EXPECT_EQ(call.headers[1].name, "X-Amzn-Bedrock-GuardrailIdentifier");
  EXPECT_EQ(call.headers[1].value, "gr0abc123");
  EXPECT_EQ(call.headers[2].value, "3");
}

// Converse takes it in the body; the caller keeps only the choice of trace (not async
// stream processing, which would let text run ahead of the guardrail).
TEST(Guardrail, ConverseBodyCarriesOnlyTheClientsGuardrail) {
  UpstreamCall call;
  call.operation = aws::Operation::kConverseStream;
  call.body = R"({"messages":[],"guardrailConfig":{"guardrailIdentifier":"none","guardrailVersion":"1",
                  "trace":"enabled","streamProcessingMode":"async"}})";
  EXPECT_FALSE(enforce_guardrail(call, kGuard, 128));
  EXPECT_EQ(json::parse(call.body)["guardrailConfig"],
            json::parse(R"({"guardrailIdentifier":"gr0abc123","guardrailVersion":"3","trace":"enabled"})"));
  UpstreamCall plain;
  plain.operation = aws::Operation::kConverse;
  plain.body = R"({"messages":[]})";
  EXPECT_FALSE(enforce_guardrail(plain, kGuard, 128));
  EXPECT_EQ(json::parse(plain.body)["guardrailConfig"],
            json::parse(R"({"guardrailIdentifier":"gr0abc123","guardrailVersion":"3"})"));
}

// A caller cannot narrow the guardrail to text of its choosing: Converse's guardContent blocks
// become plain blocks, InvokeModel's tag suffix goes.
TEST(Guardrail, TheCallerCannotChooseWhatTheGuardrailReads) {
  UpstreamCall converse;
  converse.operation = aws::Operation::kConverse;
  converse.body = R"({"system":[{"guardContent":{"text":{"text":"s"}}},{"text":"t"}],
                      "messages":[{"role":"user","content":[{"guardContent":{"text":{"text":"hi"}}},
                                                            {"text":"the real request"}]}]})";
  EXPECT_FALSE(enforce_guardrail(converse, kGuard, 128));
  const json c = json::parse(converse.body);
  EXPECT_EQ(c["messages"][0]["content"], json::parse(R"([{"text":"hi"},{"text":"the real request"}])"));
  EXPECT_EQ(c["system"], json::parse(R"([{"text":"s"},{"text":"t"}])"));
  UpstreamCall invoke;
  invoke.operation = aws::Operation::kInvoke;
  invoke.body = R"({"amazon-bedrock-guardrailConfig":{"tagSuffix":"x"},"messages":[]})";
  EXPECT_FALSE(enforce_guardrail(invoke, kGuard, 128));
  EXPECT_EQ(json::parse(invoke.body), json::parse(R"({"messages":[]})"));
  invoke.body = "not json";
  EXPECT_TRUE(enforce_guardrail(invoke, kGuard, 128));
}

TEST(Guardrail, ABodyThatIsNotAnObjectIsRefused) {
  UpstreamCall call;
  call.operation = aws::Operation::kConverse;
  call.body = "[1,2]";
  EXPECT_TRUE(enforce_guardrail(call, kGuard, 128));
  call.body = std::string(1000, '[');
  EXPECT_NE(enforce_guardrail(call, kGuard, 128)->find("deeper"), std::string::npos);
  UpstreamCall count;
  count.operation = aws::Operation::kCountTokens;
  count.body = "anything";
  EXPECT_FALSE(enforce_guardrail(count, kGuard, 128));
  EXPECT_EQ(count.body, "anything");
}

// The guardrail grammar Bedrock uses: an ID or a guardrail ARN; DRAFT or a version number.
TEST(Guardrail, ConfigGrammar) {
  EXPECT_TRUE(config::valid_guardrail_id("gr0abc123"));
  EXPECT_TRUE(config::valid_guardrail_id("arn:aws:bedrock:us-east-1:111122223333:guardrail/abc123"));
  EXPECT_FALSE(config::valid_guardrail_id("arn:aws:bedrock:us-east-1:1111:guardrail/abc123"));
  EXPECT_FALSE(config::valid_guardrail_id("GR-1"));
  EXPECT_FALSE(config::valid_guardrail_id(""));
  EXPECT_TRUE(config::valid_guardrail_version("DRAFT"));
  EXPECT_TRUE(config::valid_guardrail_version("12"));
  EXPECT_FALSE(config::valid_guardrail_version("01"));
  EXPECT_FALSE(config::valid_guardrail_version("draft"));
  EXPECT_FALSE(config::valid_guardrail_version("123456789"));
}

}  // namespace
}  // namespace signgate::gateway

namespace signgate::gateway {
namespace {

// The ownership store is bounded: the oldest invocations are forgotten first.
TEST(AsyncInvocations, RemembersOwnersUpToItsCapacity) {
  AsyncInvocations store(2);
  store.record("arn:1", "a");
  store.record("arn:2", "b");
  store.record("arn:1", "b");  // a second record of the same ARN changes nothing
  EXPECT_EQ(store.owner("arn:1"), "a");
  store.record("arn:3", "a");
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.owner("arn:1"));
  EXPECT_EQ(store.owner("arn:2"), "b");
  EXPECT_EQ(store.owner("arn:3"), "a");
}

}  // namespace
}  // namespace signgate::gateway
