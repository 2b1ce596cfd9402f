// A client's guardrail goes on every call, whatever the caller sent.
#include "gateway/guardrail.h"
#include "gateway/async_invocations.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <string>
#include <vector>

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
  EXPECT_EQ(store.record("arn:1", "a"), "a");
  store.record("arn:2", "b");
  EXPECT_EQ(store.record("arn:1", "b"), "a");  // the first client keeps it: b is told whose it is
  EXPECT_EQ(store.owner("arn:1"), "a");
  store.record("arn:3", "a");
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.owner("arn:1"));
  EXPECT_EQ(store.owner("arn:2"), "b");
  EXPECT_EQ(store.owner("arn:3"), "a");
}

// What Bedrock takes as StartAsyncInvoke's clientRequestToken (botocore 1.43's
// AsyncInvokeIdempotencyToken): 1 to 256 characters of [!-~].
TEST(AsyncInvocations, RequestTokenGrammar) {
  EXPECT_TRUE(is_request_token("a"));
  EXPECT_TRUE(is_request_token(std::string(256, '~')));
  EXPECT_TRUE(is_request_token("!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"));
  EXPECT_FALSE(is_request_token(""));
  EXPECT_FALSE(is_request_token(std::string(257, 'a')));
  EXPECT_FALSE(is_request_token("with space"));
  EXPECT_FALSE(is_request_token("tab\t"));
  EXPECT_FALSE(is_request_token("\x7f"));
  EXPECT_FALSE(is_request_token("caf\xc3\xa9"));
}

// A caller's clientRequestToken reaches Bedrock as its client's own: the same for one client on
// every replica and after restarts (a retry stays idempotent), never the same for two clients
// (bob replaying alice's token is not handed her invocation), and a valid token whatever the
// caller sent.
TEST(AsyncInvocations, RequestTokensAreScopedToTheirClient) {
  const std::string alice = upstream_request_token("alice", "retry-me-1");
  EXPECT_EQ(alice, upstream_request_token("alice", "retry-me-1"));
  // Pinned (HMAC-SHA256 keyed by SHA-256 of the label and the name): a change would start
  // every retried invocation again after an upgrade.
  EXPECT_EQ(alice, "9abdc8e776836071519aed1dfaa8a7e80635e007831ec59a590cde3e91556b35");
  EXPECT_NE(alice, upstream_request_token("bob", "retry-me-1"));
  EXPECT_NE(alice, upstream_request_token("alice", "retry-me-2"));
  EXPECT_NE(alice, upstream_request_token("Alice", "retry-me-1"));
  EXPECT_NE(upstream_request_token("ab", "c"), upstream_request_token("a", "bc"));
  EXPECT_NE(upstream_request_token("a", "b\nc"), upstream_request_token("a\nb", "c"));
  EXPECT_NE(alice, "retry-me-1");

  std::vector<std::string> tokens = {"xyz",
                                     std::string(256, '~'),
                                     std::string(100'000, 'a'),
                                     "with space",
                                     std::string("\0nul", 4),
                                     "caf\xc3\xa9",
                                     "\xff\xfe",
                                     ""};
  for (int c = 0; c < 256; ++c) tokens.emplace_back(1, static_cast<char>(c));
  const std::regex grammar("[!-~]{1,256}");
  std::set<std::string> seen;
  for (const std::string client : {"alice", "bob", "", "a client with spaces"}) {
    for (const auto& token : tokens) {
      const std::string upstream = upstream_request_token(client, token);
      EXPECT_EQ(upstream.size(), 64u);
      EXPECT_TRUE(std::regex_match(upstream, grammar)) << upstream;
      EXPECT_TRUE(is_request_token(upstream));
      seen.insert(upstream);
    }
  }
  EXPECT_EQ(seen.size(), 4 * tokens.size()) << "no two (client, token) pairs meet";
}

}  // namespace
}  // namespace signgate::gateway
