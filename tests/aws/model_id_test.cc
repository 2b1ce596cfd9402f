// Which model IDs reach Bedrock: its own grammar, and never a path dot segment.
#include "aws/model_id.h"

#include <gtest/gtest.h>

#include <string>

namespace signgate::aws {
namespace {

// What SDKs send: model IDs, inference profile IDs, and the ARNs of everything invokable.
TEST(ModelId, AcceptsWhatBedrockAccepts) {
  for (const char* id : {
           "anthropic.claude-3-haiku-20240307-v1:0",
           "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
           "amazon.titan-embed-text-v2:0",
           "anthropic.claude-3-haiku-20240307-v1:0:200k",
           "global.anthropic.claude-sonnet-4-20250514-v1:0",
           "my_custom_model-1",
           "x",
           "...",
           "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
           "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2",
           "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.titan-text-express-v1",
           "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
           "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456",
           "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
           "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1/abcdef123456",
           "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456",
           "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456",
           "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT1234",
           "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT1234:12",
           "arn:aws:bedrock:us-east-1:123456789012:prompt-router/anthropic.claude:1",
           "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/meta.llama:1",
           "arn:aws-cn:bedrock:cn-north-1:123456789012:inference-profile/x",
           "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint",
       }) {
    EXPECT_TRUE(valid_model_id(id)) << id;
  }
  EXPECT_TRUE(valid_model_id(std::string(2048, 'a')));
}

// Dot segments, URL syntax, whitespace and control bytes would change the upstream request.
TEST(ModelId, RefusesWhatCouldEscapeItsPathSegment) {
  using namespace std::string_literals;
  for (const std::string& id : {""s, "."s, ".."s, "a b"s, "a?b"s, "a#b"s, "a%2e"s, "a\\b"s, "a/b"s, "../x"s, "a\tb"s,
                                "a\0b"s, "a\r\nb"s, "a\x7f"s, "\xc3\xa9t\xc3\xa9"s, "_a"s, "a__b"s, "a_.b"s}) {
    EXPECT_FALSE(valid_model_id(id)) << id;
  }
  EXPECT_FALSE(valid_model_id(std::string(2049, 'a')));
}

// ARNs of anything Bedrock would not invoke, or with a field out of its shape.
TEST(ModelId, RefusesArnsOfOtherShapes) {
  for (const char* id : {
           "arn:aws:iam::123456789012:role/admin",
           "arn:aws:s3:::bucket",
           "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc",
           "arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.claude-v2",
           "arn:aws:bedrock:us-east-1::inference-profile/us.anthropic.claude",
           "arn:aws:bedrock:us-east-1:12345678901:inference-profile/x",
           "arn:aws:bedrock:us-east-1:123456789012:inference-profile/",
           "arn:aws:bedrock:us-east-1:123456789012:inference-profile/x/y",
           "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef12345",
           "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456",
           "arn:aws:bedrock:US-EAST-1:123456789012:inference-profile/x",
           "arn:aws:bedrock::123456789012:inference-profile/x",
           "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT1234:123456",
           "arn:aws x:bedrock:us-east-1:123456789012:inference-profile/x",
           "arn:aws-%2F:bedrock:us-east-1:123456789012:inference-profile/x",
           "arn:aws-cn:sagemaker:us-east-1:123456789012:endpoint/x",
           "arn:aws:bedrock:us-east-1::foundation-model/anthropic",
           "arn:aws:bedrock:us-east-1:123456789012",
           "arn:",
       }) {
    EXPECT_FALSE(valid_model_id(id)) << id;
  }
}

}  // namespace
}  // namespace signgate::aws
