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

// A '*' in the region or account field stays in that field: no second account behind it.
TEST(ModelPattern, ArnFieldsCannotBeCrossed) {
  constexpr std::string_view kOwnProfiles = "arn:aws:bedrock:*:123456789012:inference-profile/*";
  EXPECT_TRUE(model_pattern_match(kOwnProfiles,
                                  "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                                  "us.anthropic.claude-3-5-sonnet-20241022-v2:0"));
  EXPECT_TRUE(model_pattern_match(kOwnProfiles, "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.x"));
  EXPECT_FALSE(model_pattern_match(
      kOwnProfiles, "arn:aws:bedrock:us-east-1:999999999999:inference-profile/x:123456789012:inference-profile/y"));
  EXPECT_FALSE(
      model_pattern_match(kOwnProfiles, "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"));
  EXPECT_FALSE(model_pattern_match("arn:aws:bedrock:*:123456789012:*", "arn:aws:bedrock:us-east-1:1234567890123:x/y"));
  EXPECT_FALSE(model_pattern_match("arn:aws:bedrock:us-*:*:*", "arn:aws:bedrock:eu-west-1:1:x"));
  // Within the resource, '*' spans '/' and ':' as IAM's does.
  EXPECT_TRUE(
      model_pattern_match("arn:aws:bedrock:us-east-1::foundation-model/*",
                          "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"));
  EXPECT_TRUE(model_pattern_match("arn:*:*:*:*:*", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/x:0"));
}

// An allowlist of model IDs says nothing about ARNs, and an ARN pattern nothing about IDs.
TEST(ModelPattern, ArnsAndPlainIdsAreSeparate) {
  EXPECT_TRUE(model_pattern_match("anthropic.claude-3-5-sonnet-*", "anthropic.claude-3-5-sonnet-20240620-v1:0"));
  EXPECT_FALSE(model_pattern_match("anthropic.*", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude"));
  EXPECT_FALSE(model_pattern_match("*anthropic*", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude"));
  EXPECT_FALSE(model_pattern_match("arn:aws:bedrock:*:*:*", "anthropic.claude-3-haiku-20240307-v1:0"));
  EXPECT_FALSE(model_pattern_match("arn:*", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"))
      << "a pattern of fewer than six fields admits nothing";
  EXPECT_FALSE(model_pattern_match("arn:aws:bedrock:*:*:*", "arn:aws:bedrock:us-east-1:x")) << "nor a short ARN";
}

// "*" is the one pattern that admits everything, ARNs included.
TEST(ModelPattern, StarAllowsEverything) {
  for (const char* id : {"anthropic.claude-3-haiku-20240307-v1:0", "",
                         "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456"}) {
    EXPECT_TRUE(model_pattern_match("*", id)) << id;
  }
}

std::string_view secret(std::vector<std::string_view> authorization, std::vector<std::string_view> api_key) {
  auto r = secret_from_headers(authorization, api_key);
  return std::holds_alternative<std::string_view>(r) ? std::get<std::string_view>(r) : "<denied>";
}

unsigned denial(std::vector<std::string_view> authorization, std::vector<std::string_view> api_key) {
  auto r = secret_from_headers(authorization, api_key);
  return std::holds_alternative<Denial>(r) ? std::get<Denial>(r).status : 0;
}

TEST(Secrets, BearerOrApiKey) {
  EXPECT_EQ(secret({"Bearer sgk_abc"}, {}), "sgk_abc");
  EXPECT_EQ(secret({"bearer   sgk_abc "}, {}), "sgk_abc");
  EXPECT_EQ(secret({}, {"sgk_key"}), "sgk_key");
  EXPECT_EQ(secret({}, {}), "");
}

// One way of presenting a key: no guessing between two, no fallback from another scheme.
TEST(Secrets, AmbiguousOrForeignSchemesAreRefused) {
  EXPECT_EQ(denial({"Bearer a", "Bearer b"}, {}), 400u);
  EXPECT_EQ(denial({}, {"a", "b"}), 400u);
  EXPECT_EQ(denial({"Basic dXNlcg=="}, {"sgk_key"}), 401u);  // was: fell back to x-api-key
  EXPECT_EQ(denial({"AWS4-HMAC-SHA256 Credential=x"}, {}), 401u);
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

// A client may hold several secrets while its key rotates: any of them is the client; a reload
// without the old one revokes it.
TEST(ClientTable, AKeyRotatesThroughAListOfHashes) {
  auto both = config::parse_config(R"(
aws: { region: us-east-1 }
clients:
  - name: a
    secret_sha256: [8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4,
                    3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d]
    models: ["*"]
)",
                                   "t.yaml", fixed_environment({}));
  ASSERT_TRUE(both) << both.message();
  const auto table = ClientTable::from_config(*both);
  EXPECT_EQ(table.authenticate("hi")->name, "a");
  EXPECT_EQ(table.authenticate("b")->name, "a");
  auto after = *both;
  after.clients[0].secret_sha256.erase(after.clients[0].secret_sha256.begin());
  const auto rotated = ClientTable::from_config(after, &table);
  EXPECT_EQ(rotated.authenticate("hi"), nullptr);
  EXPECT_EQ(rotated.authenticate("b")->name, "a");
  // A hash shared with another client, repeated, malformed, or none at all: refused.
  for (const char* hashes : {"[8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4, "
                             "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4]",
                             "[short]", "[]"}) {
    const auto bad = config::parse_config(std::string("aws: { region: us-east-1 }\nclients:\n  - name: a\n"
                                                      "    secret_sha256: ") +
                                              hashes + "\n    models: [\"*\"]\n",
                                          "t.yaml", fixed_environment({}));
    EXPECT_FALSE(bad) << hashes;
  }
}

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

// The allowlist as a client meets it: its own profiles, in any region, and nobody else's.
TEST(ClientTable, ArnAllowlistsStayInTheirAccount) {
  auto cfg = two_clients();
  cfg.clients[0].models = {"anthropic.*", "arn:aws:bedrock:*:123456789012:inference-profile/*"};
  const auto table = ClientTable::from_config(cfg);
  EXPECT_FALSE(table.check("hi", Operation::kConverse, "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.x",
                           kBefore, nullptr));
  const auto d = table.check(
      "hi", Operation::kConverse,
      "arn:aws:bedrock:us-east-1:999999999999:inference-profile/x:123456789012:inference-profile/y", kBefore, nullptr);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 403u);
  EXPECT_TRUE(table.check("hi", Operation::kConverse,
                          "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", kBefore,
                          nullptr))
      << "anthropic.* names model IDs, not foundation-model ARNs";
}

// The gateway identifies the key from the request head and authorizes once it has read the body.
TEST(ClientTable, IdentifyThenAuthorize) {
  const auto table = ClientTable::from_config(two_clients());
  const Client* b = nullptr;
  ASSERT_FALSE(table.identify("b", kBefore, &b));
  ASSERT_NE(b, nullptr);
  auto d = table.authorize(*b, Operation::kInvoke, "anthropic.claude");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 403u);
  EXPECT_EQ(d->reason, "operation invoke is not allowed for this key");
  const Client& a = table.clients()[0];
  d = table.authorize(a, Operation::kConverse, "meta.llama3");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, "model meta.llama3 is not allowed for this key");
  EXPECT_FALSE(table.authorize(a, Operation::kConverse, "anthropic.claude"));
  EXPECT_FALSE(table.authorize(*b, Operation::kConverse, "x")) << "what b may spend is not authorize()'s to ask";
  ASSERT_NE(b->limiter, nullptr);
  EXPECT_EQ(b->limiter->settings().requests_per_minute, 2);
  EXPECT_EQ(a.limiter, nullptr) << "a has no limit";
}

// A SIGHUP (logrotate) must not hand every client a full bucket; a new limit starts afresh.
TEST(ClientTable, ReloadKeepsLimiters) {
  auto cfg = two_clients();
  const auto now = std::chrono::steady_clock::now();
  const auto drained = ClientTable::from_config(cfg);
  auto& limiter = *drained.clients()[1].limiter;
  EXPECT_FALSE(limiter.admit(now, kBefore));
  EXPECT_FALSE(limiter.admit(now, kBefore));
  ASSERT_EQ(limiter.admit(now, kBefore)->status, 429u);

  const auto reloaded = ClientTable::from_config(cfg, &drained);
  EXPECT_EQ(reloaded.clients()[1].limiter, drained.clients()[1].limiter);
  EXPECT_TRUE(reloaded.clients()[1].limiter->admit(now, kBefore)) << "still drained";
  EXPECT_EQ(reloaded.clients()[0].limiter, nullptr) << "unlimited stays unlimited";

  cfg.clients[1].requests_per_minute = 3;
  const auto raised = ClientTable::from_config(cfg, &reloaded);
  EXPECT_EQ(raised.clients()[1].limiter, drained.clients()[1].limiter) << "the same limiter, reconfigured";
  EXPECT_EQ(raised.clients()[1].limiter->settings().requests_per_minute, 3);
  EXPECT_FALSE(raised.clients()[1].limiter->admit(now, kBefore)) << "a changed limit starts full";

  cfg.clients[1].name = "b2";
  cfg.clients[1].requests_per_minute = 2;
  EXPECT_NE(ClientTable::from_config(cfg, &drained).clients()[1].limiter, drained.clients()[1].limiter)
      << "limiters follow the client's name";
}

// Without an operations list a client may do everything but start asynchronous invocations,
// which write where the caller says: that takes naming async-invoke.
TEST(Operations, AsyncInvokeIsOptIn) {
  Client c;
  EXPECT_TRUE(c.allows_operation(Operation::kConverse));
  EXPECT_TRUE(c.allows_operation(Operation::kDiscovery));
  EXPECT_FALSE(c.allows_operation(Operation::kAsyncInvoke));
  c.operations = {Operation::kAsyncInvoke};
  EXPECT_TRUE(c.allows_operation(Operation::kAsyncInvoke));
  EXPECT_FALSE(c.allows_operation(Operation::kConverse));
}

}  // namespace
}  // namespace signgate::auth
