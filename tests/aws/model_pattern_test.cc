// Allowlist patterns: what they match, and the ones that can never match refused with the
// pattern the operator probably meant.
#include "aws/model_pattern.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

std::string suggestion(std::string_view pattern) {
  const auto p = model_pattern_problem(pattern);
  return p ? p->suggestion : "(accepted)";
}

// The patterns the README and the examples show are accepted.
TEST(ModelPattern, PatternsThatCanMatchAreAccepted) {
  for (const char* ok :
       {"*", "anthropic.*", "us.anthropic.claude-3-5-sonnet-*-v2:?", "anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:*:*:*", "arn:aws:bedrock:*:111122223333:inference-profile/*",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.*", "arn:aws:bedrock:*::*",
        "arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:application-inference-profile/abc", "arn:aws*:bedrock:*:*:*",
        "arn:aws:bedrock:*:*:foundation-model/x:0"}) {
    EXPECT_FALSE(model_pattern_problem(ok)) << ok << ": " << model_pattern_problem(ok)->reason;
  }
}

// An ARN pattern is matched field by field: "arn:aws:bedrock:*" (four fields) matches nothing.
TEST(ModelPattern, AnArnOfFewerThanSixFieldsIsRefusedWithWhatItMeant) {
  EXPECT_FALSE(model_pattern_match("arn:aws:bedrock:*",
                                   "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.x"));
  const auto p = model_pattern_problem("arn:aws:bedrock:*");
  ASSERT_TRUE(p);
  EXPECT_NE(p->reason.find("4 of an ARN's six"), std::string::npos) << p->reason;
  EXPECT_EQ(p->suggestion, "arn:aws:bedrock:*:*:*");
  EXPECT_EQ(suggestion("arn:aws:bedrock:inference-profile/us.anthropic.*"),
            "arn:aws:bedrock:*:*:inference-profile/us.anthropic.*");
  EXPECT_EQ(suggestion("arn:"), "arn:aws:bedrock:*:*:*");
  EXPECT_EQ(suggestion("arn:aws:bedrock:us-east-1:111122223333"), "arn:aws:bedrock:us-east-1:111122223333:*");
  // The suggestion is itself accepted, and matches what the pattern was after.
  EXPECT_TRUE(model_pattern_match(suggestion("arn:aws:bedrock:inference-profile/us.anthropic.*"),
                                  "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude"));
}

// A service, partition or empty field no Bedrock ARN has.
TEST(ModelPattern, FieldsNoBedrockArnHasAreRefused) {
  EXPECT_EQ(suggestion("arn:aws:sagemaker:*:*:*"), "arn:aws:bedrock:*:*:*");
  EXPECT_EQ(suggestion("arn:amazon:bedrock:*:*:*"), "arn:aws:bedrock:*:*:*");
  EXPECT_EQ(suggestion("arn:aws:bedrock::*:inference-profile/*"), "arn:aws:bedrock:*:*:inference-profile/*");
  EXPECT_EQ(suggestion("arn:aws:bedrock:*::inference-profile/*"), "arn:aws:bedrock:*:*:inference-profile/*");
  EXPECT_EQ(suggestion("arn:aws:bedrock:*:*:"), "arn:aws:bedrock:*:*:*");
  EXPECT_NE(model_pattern_problem("arn:aws:iam:*:*:*")->reason.find("service 'iam' is not bedrock"), std::string::npos);
}

// Only ARNs hold a '/'; characters no model ID holds.
TEST(ModelPattern, PlainPatternsThatCanNeverMatch) {
  EXPECT_EQ(suggestion("inference-profile/us.anthropic.*"), "arn:aws:bedrock:*:*:inference-profile/us.anthropic.*");
  const auto bracket = model_pattern_problem("anthropic.claude-3-haiku-[0-9]");
  ASSERT_TRUE(bracket);
  EXPECT_NE(bracket->reason.find("holds '['"), std::string::npos);
  EXPECT_TRUE(model_pattern_problem(""));
}

}  // namespace
}  // namespace signgate::aws
