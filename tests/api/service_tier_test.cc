#include "api/service_tier.h"

#include <gtest/gtest.h>

namespace signgate::api {
namespace {

// Priority and Flex only where Bedrock's service-tiers page lists the model; default everywhere.
TEST(ServiceTier, OnlyListedModelsGetPriorityAndFlex) {
  for (const char* m : {"openai.gpt-oss-120b-1:0", "us.amazon.nova-premier-v1:0", "amazon.nova-pro-v1:0",
                        "global.amazon.nova-2-lite-v1:0", "qwen.qwen3-32b-v1:0", "deepseek.v3-v1:0"}) {
    EXPECT_TRUE(tier_available(m, ServiceTier::kPriority)) << m;
    EXPECT_TRUE(tier_available(m, ServiceTier::kFlex)) << m;
    EXPECT_EQ(tier_for(m, ServiceTier::kFlex), ServiceTier::kFlex) << m;
  }
  for (const char* m : {"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
                        "amazon.nova-lite-v1:0", "amazon.titan-embed-text-v2:0", "us.openai.gpt-5.6-sol",
                        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc"}) {
    EXPECT_FALSE(tier_available(m, ServiceTier::kPriority)) << m;
    EXPECT_FALSE(tier_available(m, ServiceTier::kFlex)) << m;
    EXPECT_TRUE(tier_available(m, ServiceTier::kDefault)) << m;
    EXPECT_EQ(tier_for(m, ServiceTier::kPriority), ServiceTier::kDefault) << m;
  }
  EXPECT_EQ(tier_name(ServiceTier::kDefault), "default");
  EXPECT_EQ(tier_name(ServiceTier::kPriority), "priority");
  EXPECT_EQ(tier_name(ServiceTier::kFlex), "flex");
  // Only a plain word from the wire is repeated.
  EXPECT_TRUE(tier_word("priority"));
  EXPECT_TRUE(tier_word("reserved_capacity"));
  EXPECT_FALSE(tier_word(""));
  EXPECT_FALSE(tier_word("Flex"));
  EXPECT_FALSE(tier_word("flex\r\nx: y"));
  EXPECT_FALSE(tier_word(std::string(33, 'a')));
}

}  // namespace
}  // namespace signgate::api
