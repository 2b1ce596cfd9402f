// Model IDs on the native surface: decoded for the policy, one encoded segment upstream.
#include "gateway/bedrock_path.h"

#include <gtest/gtest.h>

namespace signgate::gateway {
namespace {

TEST(BedrockPath, ModelIdsRawOrEncoded) {
  std::string error;
  for (const char* target : {"/model/anthropic.claude-3-haiku-20240307-v1:0/converse",
                             "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                             "/model/anthropic.claude-3-haiku-20240307-v1%3a0/converse?x=1"}) {
    auto call = parse_model_path(target, &error);
    ASSERT_TRUE(call) << target << ": " << error;
    EXPECT_EQ(call->model_id, "anthropic.claude-3-haiku-20240307-v1:0");
    EXPECT_EQ(call->operation, aws::Operation::kConverse);
  }
}

TEST(BedrockPath, ArnsWithRawOrEncodedSlashes) {
  const std::string arn =
      "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0";
  std::string error;
  for (const std::string& target :
       {"/model/" + arn + "/invoke-with-response-stream",
        std::string("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Ainference-profile%2F"
                    "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke-with-response-stream")}) {
    auto call = parse_model_path(target, &error);
    ASSERT_TRUE(call) << error;
    EXPECT_EQ(call->model_id, arn);
    EXPECT_EQ(call->operation, aws::Operation::kInvokeStream);
    EXPECT_EQ(upstream_path("/", *call),
              "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Ainference-profile%2F"
              "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke-with-response-stream");
  }
}

TEST(BedrockPath, UpstreamPathKeepsABasePath) {
  const ModelCall call{"amazon.nova-lite-v1:0", aws::Operation::kCountTokens};
  EXPECT_EQ(upstream_path("/bedrock", call), "/bedrock/model/amazon.nova-lite-v1%3A0/count-tokens");
}

TEST(BedrockPath, WhatIsNotAModelCall) {
  std::string error;
  EXPECT_FALSE(parse_model_path("/v1/chat/completions", &error));
  EXPECT_FALSE(parse_model_path("/model/converse", &error));
  EXPECT_FALSE(parse_model_path("/model//converse", &error));
  EXPECT_FALSE(parse_model_path("/model/m/chat", &error));
  EXPECT_NE(error.find("unknown operation 'chat'"), std::string::npos);
  EXPECT_FALSE(parse_model_path("/model/a%0Ab/converse", &error)) << "no line breaks in a model ID";
}

// "%2e%2e" decodes to "..", which upstream would be a dot segment, not a model.
TEST(BedrockPath, DotSegmentsAreNotModelIds) {
  for (const char* target :
       {"/model/%2e%2e/converse", "/model/%2E%2E/converse", "/model/../converse", "/model/./invoke",
        "/model/%2E/invoke", "/model/.%2e/converse-stream", "/model/x/../invoke", "/model/x%2F..%2F../count-tokens"}) {
    std::string error;
    EXPECT_FALSE(parse_model_path(target, &error)) << target;
    EXPECT_EQ(error.rfind("not a Bedrock model ID", 0), 0u) << target << ": " << error;
  }
}

// Only Bedrock's model-ID grammar passes: no URL syntax, whitespace or stray ARNs.
TEST(BedrockPath, OnlyBedrockModelIds) {
  std::string error;
  for (const char* target : {"/model/a%20b/converse", "/model/a%3Fb/converse", "/model/a%23b/converse",
                             "/model/a%255C/converse", "/model/a%5Cb/converse", "/model/a%00b/converse",
                             "/model/a/b/converse", "/model/arn:aws:iam::123456789012:role%2Fadmin/invoke",
                             "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fx%2F..%2Fy/invoke"}) {
    EXPECT_FALSE(parse_model_path(target, &error)) << target;
  }
  for (const char* target : {"/model/amazon.titan-embed-text-v2:0/invoke",
                             "/model/arn:aws:bedrock:us-east-1::foundation-model%2Famazon.titan-embed-text-v2:0/invoke",
                             "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile"
                             "%2Fabcdef123456/converse"}) {
    EXPECT_TRUE(parse_model_path(target, &error)) << target << ": " << error;
  }
}

}  // namespace
}  // namespace signgate::gateway
