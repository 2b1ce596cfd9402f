// One refusal, three dialects: what each kind of client reads when signgate says no.
#include "gateway/refusal.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace signgate::gateway {
namespace {

using nlohmann::json;

std::string header(const Rendered& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<none>";
}

// A rate-limited caller of each surface gets 429, Retry-After and its own error shape.
TEST(Refusal, RateLimitInEveryDialect) {
  Refusal r{429, "rate limit exceeded for this key"};
  r.retry_after = std::chrono::seconds(7);
  const Rendered bedrock = render(Dialect::kBedrock, r, "rid");
  EXPECT_EQ(bedrock.status, 429u);
  EXPECT_EQ(header(bedrock, "Retry-After"), "7");
  EXPECT_EQ(header(bedrock, "x-amzn-ErrorType"), "ThrottlingException");
  EXPECT_EQ(header(bedrock, "x-amzn-RequestId"), "rid");
  EXPECT_EQ(json::parse(bedrock.body)["message"], "rate limit exceeded for this key");

  const Rendered openai = render(Dialect::kOpenAI, r, "rid");
  EXPECT_EQ(header(openai, "Retry-After"), "7");
  EXPECT_EQ(json::parse(openai.body)["error"]["type"], "rate_limit_error");

  const Rendered anthropic = render(Dialect::kAnthropic, r, "rid");
  EXPECT_EQ(header(anthropic, "Retry-After"), "7");
  EXPECT_EQ(json::parse(anthropic.body)["type"], "error");
  EXPECT_EQ(json::parse(anthropic.body)["error"]["type"], "rate_limit_error");
}

// 503 always says when to come back; the detail for the log never reaches the caller.
TEST(Refusal, DetailStaysOutOfTheAnswer) {
  const Refusal r{503, "signgate holds no valid AWS credentials right now",        "", "", "",
                  {},  "AssumeRole arn:aws:iam::111122223333:role/x: AccessDenied"};
  for (Dialect d : {Dialect::kBedrock, Dialect::kOpenAI, Dialect::kAnthropic}) {
    const Rendered out = render(d, r, "rid");
    EXPECT_EQ(out.status, 503u);
    EXPECT_EQ(header(out, "Retry-After"), "1");
    EXPECT_EQ(out.body.find("111122223333"), std::string::npos) << out.body;
  }
}

// OpenAI clients read param and code; Bedrock's type comes from the status unless given.
TEST(Refusal, FieldsEachDialectReads) {
  const Refusal r{403, "model x is not allowed for this key", "model", "model_not_allowed"};
  EXPECT_EQ(json::parse(render(Dialect::kOpenAI, r, "").body)["error"]["param"], "model");
  EXPECT_EQ(json::parse(render(Dialect::kOpenAI, r, "").body)["error"]["code"], "model_not_allowed");
  EXPECT_EQ(header(render(Dialect::kBedrock, r, ""), "x-amzn-ErrorType"), "AccessDeniedException");
  EXPECT_EQ(json::parse(render(Dialect::kAnthropic, r, "").body)["error"]["type"], "permission_error");
  // Bytes off the wire in a message stay valid JSON.
  const Refusal bad{400, std::string("model \xff\xfe", 8)};
  EXPECT_FALSE(json::parse(render(Dialect::kBedrock, bad, "").body, nullptr, false).is_discarded());
}

}  // namespace
}  // namespace signgate::gateway
