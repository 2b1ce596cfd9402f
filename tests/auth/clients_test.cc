// Client keys, allowlists, operations, expiry and rate limits, as a request meets them.
#include "auth/clients.h"

#include <gtest/gtest.h>

namespace signgate::auth {
namespace {

using namespace std::chrono_literals;

TEST(Glob, StarsAndQuestionMarks) {
  EXPECT_TRUE(glob_match("anthropic.*", "anthropic.claude-3-haiku-20240307-v1:0"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("us.anthropic.claude-3-5-sonnet-*-v2:?", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"));
  EXPECT_TRUE(glob_match("arn:aws:bedrock:*:111122223333:inference-profile/*",
                         "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.x"));
  EXPECT_FALSE(glob_match("anthropic.*", "us.anthropic.claude"));
  EXPECT_FALSE(glob_match("anthropic.claude", "anthropic.claude-3"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("*a*b*c*", "xxaxxbxxcxx"));
  EXPECT_FALSE(glob_match("*a*b*c*", "xxaxxcxxbxx"));
}

TEST(Operations, PathsAndNames) {
  EXPECT_EQ(operation_from_path("invoke-with-response-stream"), Operation::kInvokeStream);
  EXPECT_EQ(operation_name(Operation::kInvokeStream), "invoke-stream");
  EXPECT_EQ(operation_path(Operation::kCountTokens), "count-tokens");
  EXPECT_FALSE(operation_from_path("chat"));
}

TEST(Secrets, BearerOrApiKey) {
  EXPECT_EQ(secret_from_headers("Bearer sgk_abc", ""), "sgk_abc");
  EXPECT_EQ(secret_from_headers("bearer   sgk_abc ", ""), "sgk_abc");
  EXPECT_EQ(secret_from_headers("", "sgk_key"), "sgk_key");
  EXPECT_EQ(secret_from_headers("Basic dXNlcg==", "sgk_key"), "sgk_key");
}

config::Config two_clients() {
  auto c = config::parse_config(R"(
aws: { region: us-east-1, role_arn: "arn:aws:iam::1:role/r", external_id: ext-1 }
clients:
  - name: a
    secret_sha256: 8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4
    models: ["anthropic.*"]
  - name: b
    secret_sha256: 3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d
    models: ["*"]
    operations: [converse]
    expires_at: 2026-01-01T00:00:00Z
    rate_limit: { requests_per_minute: 2 }
    aws: { role_arn: "arn:aws:iam::2:role/other", session_name: other-session }
)",
                                "t.yaml", fixed_environment({}));
  EXPECT_TRUE(c) << c.message();
  return *c;
}

const SystemTime kBefore = *parse_iso8601("2025-06-01T00:00:00Z");

// sha256("hi") and sha256("b") are the two clients' secrets.
TEST(ClientTable, AuthenticatesByHashAndChecksPolicy) {
  const auto table = ClientTable::from_config(two_clients());
  const Client* who = nullptr;
  EXPECT_FALSE(table.check("hi", Operation::kConverseStream, "anthropic.claude", kBefore, &who));
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->name, "a");
  auto d = table.check("hi", Operation::kConverse, "meta.llama3", kBefore, &who);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 403u);
  EXPECT_EQ(d->reason, "model meta.llama3 is not allowed for this key");
  d = table.check("b", Operation::kInvoke, "anything", kBefore, &who);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 403u);
  EXPECT_EQ(d->reason, "operation invoke is not allowed for this key");
  d = table.check("nope", Operation::kConverse, "x", kBefore, &who);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 401u);
  EXPECT_EQ(who, nullptr);
  EXPECT_EQ(table.check("", Operation::kConverse, "x", kBefore, &who)->reason.rfind("missing API key", 0), 0u);
}

TEST(ClientTable, ExpiredKeysAreRefused) {
  const auto table = ClientTable::from_config(two_clients());
  const auto d = table.check("b", Operation::kConverse, "x", *parse_iso8601("2026-01-01T00:00:00Z"), nullptr);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 401u);
  EXPECT_EQ(d->reason, "API key expired at 2026-01-01T00:00:00Z");
}

// CloudTrail tells clients apart: each gets its own session name unless it names one.
TEST(ClientTable, EachClientHasItsOwnIdentity) {
  const auto table = ClientTable::from_config(two_clients());
  EXPECT_EQ(table.clients()[0].role.role_arn, "arn:aws:iam::1:role/r");
  EXPECT_EQ(table.clients()[0].role.session_name, "signgate-a");
  EXPECT_EQ(table.clients()[0].role.external_id, "ext-1");
  EXPECT_EQ(table.clients()[1].role.role_arn, "arn:aws:iam::2:role/other");
  EXPECT_EQ(table.clients()[1].role.session_name, "other-session");
}

TEST(RateLimiter, BucketRefillsOverTime) {
  RateLimiter limiter(2);
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::seconds retry{0};
  EXPECT_TRUE(limiter.try_acquire(t0, &retry));
  EXPECT_TRUE(limiter.try_acquire(t0, &retry));
  EXPECT_FALSE(limiter.try_acquire(t0, &retry));
  EXPECT_EQ(retry, 30s);
  EXPECT_TRUE(limiter.try_acquire(t0 + 31s, &retry));
  EXPECT_FALSE(limiter.try_acquire(t0 + 31s, &retry));
}

}  // namespace
}  // namespace signgate::auth
