// The policies `signgate iam-policy` prints: only the configured models, only invoke actions.
#include "aws/iam_policy.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

using Arns = std::vector<std::string>;

TEST(IamPolicy, FoundationModelsAreRegional) {
  EXPECT_EQ(model_resources("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", "1"),
            Arns{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"});
  EXPECT_EQ(model_resources("anthropic.*", "eu-west-1", "1"),
            Arns{"arn:aws:bedrock:eu-west-1::foundation-model/anthropic.*"});
}

// A cross-region profile needs the profile and the model in every region it may route to.
TEST(IamPolicy, InferenceProfilesNeedTheProfileAndTheModelEverywhere) {
  EXPECT_EQ(
      model_resources("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "us-east-1", "111122223333"),
      (Arns{"arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0"}));
  EXPECT_EQ(model_resources("arn:aws:bedrock:eu-west-1:1:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0",
                            "us-east-1", "1"),
            (Arns{"arn:aws:bedrock:eu-west-1:1:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0",
                  "arn:aws:bedrock:*::foundation-model/meta.llama3-2-1b-instruct-v1:0"}));
  EXPECT_EQ(model_resources("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", "us-east-1", "1"),
            Arns{"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"});
}

TEST(IamPolicy, ArnsAreInTheRegionsPartition) {
  EXPECT_EQ(model_resources("amazon.nova-lite-v1:0", "us-gov-west-1", "1"),
            Arns{"arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.nova-lite-v1:0"});
  EXPECT_EQ(model_resources("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "us-gov-east-1", "1")[1],
            "arn:aws-us-gov:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(partition_of("cn-north-1"), "aws-cn");
  EXPECT_EQ(partition_of("eusc-de-east-1"), "aws-eusc");
  EXPECT_EQ(partition_of("us-isob-east-1"), "aws-iso-b");
  EXPECT_EQ(partition_of("eu-central-1"), "aws");
  EXPECT_EQ(guardrail_arn("gr1", "cn-northwest-1", "9"), "arn:aws-cn:bedrock:cn-northwest-1:9:guardrail/gr1");
}

TEST(IamPolicy, AccountComesFromTheRoleArn) {
  EXPECT_EQ(account_of("arn:aws:iam::111122223333:role/flashback-bedrock"), "111122223333");
  EXPECT_EQ(account_of(""), "*");
  EXPECT_EQ(account_of("arn:aws:iam:::role/x"), "*");
}

TEST(IamPolicy, PermissionsOnlyForWhatClientsMayCall) {
  PolicyScope scope{"us-east-1", "1", {"anthropic.*", "anthropic.*"}, false, false, true, false, {}, false};
  const auto p = permissions_policy(scope);
  EXPECT_EQ(p["Statement"].size(), 1u) << "no discovery statements unless discovery is on";
  EXPECT_EQ(p["Statement"][0]["Action"], nlohmann::json::array({"bedrock:InvokeModel"}));
  EXPECT_EQ(p["Statement"][0]["Resource"].size(), 1u) << "duplicates folded";
  EXPECT_EQ(p["Statement"][0]["Effect"], "Allow");
}

// With discovery on, listing needs "*" (the List operations take no resource), while reading one
// model or profile stays held to the allowlist's resources.
TEST(IamPolicy, DiscoveryAddsListAndReadStatements) {
  PolicyScope scope{"us-east-1", "111122223333", {"us.anthropic.claude-*"}, true, false, true, true, {}, false};
  const auto p = permissions_policy(scope);
  ASSERT_EQ(p["Statement"].size(), 4u) << p.dump(2);
  EXPECT_EQ(p["Statement"][2]["Action"],
            nlohmann::json::array({"bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"}));
  EXPECT_EQ(p["Statement"][2]["Resource"], "*");
  EXPECT_EQ(p["Statement"][3]["Action"],
            nlohmann::json::array({"bedrock:GetFoundationModel", "bedrock:GetInferenceProfile"}));
  EXPECT_EQ(p["Statement"][3]["Resource"],
            nlohmann::json::array({"arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-*",
                                   "arn:aws:bedrock:*::foundation-model/anthropic.claude-*"}));
}

// Guardrails: the role may apply only its clients' guardrails, and when every client has one,
// IAM itself refuses an invocation without it.
TEST(IamPolicy, GuardrailsAreGrantedAndEnforced) {
  PolicyScope scope{"us-east-1",
                    "111122223333",
                    {"anthropic.*"},
                    true,
                    false,
                    false,
                    false,
                    {{"gr0abc", "2"}, {"arn:aws:bedrock:eu-west-1:444455556666:guardrail/xyz", "DRAFT"}},
                    true};
  const auto p = permissions_policy(scope);
  ASSERT_EQ(p["Statement"].size(), 2u) << p.dump(2);
  EXPECT_EQ(p["Statement"][0]["Condition"]["StringEquals"]["bedrock:GuardrailIdentifier"],
            nlohmann::json::array({"arn:aws:bedrock:us-east-1:111122223333:guardrail/gr0abc:2",
                                   "arn:aws:bedrock:eu-west-1:444455556666:guardrail/xyz"}));
  EXPECT_EQ(p["Statement"][1]["Action"], nlohmann::json::array({"bedrock:ApplyGuardrail"}));
  EXPECT_EQ(p["Statement"][1]["Resource"],
            nlohmann::json::array({"arn:aws:bedrock:us-east-1:111122223333:guardrail/gr0abc",
                                   "arn:aws:bedrock:eu-west-1:444455556666:guardrail/xyz"}));
  scope.every_client_guarded = false;  // a client without one would be refused by the condition
  EXPECT_FALSE(permissions_policy(scope)["Statement"][0].contains("Condition"));
}

// us.anthropic.* must not become every Anthropic model in every region, callable directly:
// the models behind a profile are granted only through the allowed profiles.
TEST(IamPolicy, ModelsBehindAProfileOnlyThroughIt) {
  PolicyScope scope{"us-east-1", "111122223333", {"us.anthropic.*", "amazon.nova-lite-v1:0"}, true, true, true, false,
                    {},          false};
  const auto p = permissions_policy(scope);
  ASSERT_EQ(p["Statement"].size(), 3u) << p.dump(2);
  EXPECT_EQ(p["Statement"][0]["Sid"], "SigngateInvokeAllowedModels");
  EXPECT_EQ(p["Statement"][0]["Resource"],
            nlohmann::json::array({"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}));
  EXPECT_FALSE(p["Statement"][0].contains("Condition"));
  EXPECT_EQ(p["Statement"][1]["Resource"],
            nlohmann::json::array({"arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.*"}));
  EXPECT_EQ(p["Statement"][2]["Sid"], "SigngateInvokeModelsOnlyThroughProfiles");
  EXPECT_EQ(p["Statement"][2]["Resource"], nlohmann::json::array({"arn:aws:bedrock:*::foundation-model/anthropic.*"}));
  EXPECT_EQ(p["Statement"][2]["Condition"]["StringLike"]["bedrock:InferenceProfileArn"], p["Statement"][1]["Resource"]);

  scope.guardrails = {{"gr0abc", "1"}};
  scope.every_client_guarded = true;
  const auto guarded = permissions_policy(scope);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(guarded["Statement"][i]["Condition"].contains("StringEquals")) << "every invoke statement, #" << i;
  }
  EXPECT_TRUE(guarded["Statement"][2]["Condition"].contains("StringLike"));
}

TEST(IamPolicy, TrustPolicyAllowsWhatAssumeRoleSends) {
  TrustScope scope{{"ext-1", "ext-2"}, true, true};
  const auto t = trust_policy("arn:aws:iam::9:role/base", scope);
  EXPECT_EQ(t["Statement"][0]["Action"],
            nlohmann::json::array({"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}));
  EXPECT_EQ(t["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            nlohmann::json::array({"ext-1", "ext-2"}));
}

TEST(IamPolicy, TrustPolicyCarriesTheExternalIdCondition) {
  const auto t = trust_policy("arn:aws:iam::9:user/signgate", "ext-1");
  EXPECT_EQ(t["Statement"][0]["Action"], "sts:AssumeRole");
  EXPECT_EQ(t["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::9:user/signgate");
  EXPECT_EQ(t["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "ext-1");
  EXPECT_FALSE(trust_policy("p", "")["Statement"][0].contains("Condition"));
}

}  // namespace
}  // namespace signgate::aws
