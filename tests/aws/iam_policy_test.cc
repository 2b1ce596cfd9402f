// The policies `signgate iam-policy` prints: only the configured models, only invoke actions;
// with routes, every target's model in its region on the role it signs with.
#include "aws/iam_policy.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cli/iam_policy_command.h"

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
  PolicyScope scope{"us-east-1", "1", {"anthropic.*", "anthropic.*"}, false, false, true, false, {}, false, {}};
  const auto p = permissions_policy(scope);
  EXPECT_EQ(p["Statement"].size(), 1u) << "no discovery statements unless discovery is on";
  EXPECT_EQ(p["Statement"][0]["Action"], nlohmann::json::array({"bedrock:InvokeModel"}));
  EXPECT_EQ(p["Statement"][0]["Resource"].size(), 1u) << "duplicates folded";
  EXPECT_EQ(p["Statement"][0]["Effect"], "Allow");
}

// With discovery on, listing needs "*" (the List operations take no resource), while reading one
// model or profile stays held to the allowlist's resources.
TEST(IamPolicy, DiscoveryAddsListAndReadStatements) {
  PolicyScope scope{"us-east-1", "111122223333", {"us.anthropic.claude-*"}, true, false, true, true, {}, false, {}};
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

// A client that may call an OpenAI-API model on Mantle needs Mantle's one inference action, on the
// account's projects in the region.
TEST(IamPolicy, MantleModelsNeedCreateInference) {
  PolicyScope scope{"eu-west-1", "111122223333", {"openai.gpt-5*"}, true, false, true, false, {}, false, {}};
  scope.mantle = true;
  const auto p = permissions_policy(scope);
  const auto& last = p["Statement"].back();
  EXPECT_EQ(last["Sid"], "SigngateMantleInference");
  EXPECT_EQ(last["Action"], nlohmann::json::array({"bedrock-mantle:CreateInference"}));
  EXPECT_EQ(last["Resource"], "arn:aws:bedrock-mantle:eu-west-1:111122223333:project/*");
  scope.mantle = false;
  const auto without = permissions_policy(scope);  // named: a range over a temporary's member dangles
  for (const auto& st : without["Statement"]) EXPECT_NE(st["Sid"], "SigngateMantleInference");
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
                    true,
                    {}};
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
  PolicyScope scope{
      "us-east-1", "111122223333", {"us.anthropic.*", "amazon.nova-lite-v1:0"}, true, true, true, false, {}, false, {}};
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

// A global profile is authorized as AWS documents: the profile and the model in the source
// region, and the model's region-less ARN (global-cross-region-inference.html).
TEST(IamPolicy, GlobalProfilesReachTheRegionlessModel) {
  const auto g = model_grants("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", "111122223333");
  EXPECT_EQ(
      g.profiles,
      Arns{
          "arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0"});
  EXPECT_EQ(g.through_profiles,
            Arns{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"});
  EXPECT_EQ(g.regionless, Arns{"arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"});
  EXPECT_TRUE(g.direct.empty());
  // Given as an ARN, its own region is the source region.
  const auto arn =
      model_grants("arn:aws:bedrock:eu-west-1:1:inference-profile/global.amazon.nova-2-lite-v1:0", "us-east-1", "1");
  EXPECT_EQ(arn.through_profiles, Arns{"arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-2-lite-v1:0"});
  EXPECT_EQ(arn.regionless, Arns{"arn:aws:bedrock:::foundation-model/amazon.nova-2-lite-v1:0"});
  // A geography's profile keeps every region it routes to, and no region-less model.
  EXPECT_TRUE(model_grants("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-west-1", "1").regionless.empty());
  EXPECT_EQ(model_grants("*", "us-east-1", "1").regionless, Arns{"arn:aws:bedrock:::foundation-model/*"});
}

// A route's targets are granted in their own regions, a global target through its profile only,
// and a guardrail given by ID in every region the role invokes.
TEST(IamPolicy, RoutedModelsAreGrantedInTheirTargetsRegions) {
  PolicyScope scope{
      "us-east-1", "111122223333", {"anthropic.claude-sonnet-*"}, true, false, true, false, {{"gr0abc", "1"}}, true,
      {}};
  scope.routed = {{"eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-west-1"},
                  {"global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1"},
                  {"anthropic.claude-sonnet-4-5-20250929-v1:0", "us-west-2"}};
  const auto p = permissions_policy(scope);
  std::map<std::string, nlohmann::json> by_sid;
  for (const auto& st : p["Statement"]) by_sid[st["Sid"].get<std::string>()] = st;
  ASSERT_EQ(by_sid.size(), 5u) << p.dump(2);
  EXPECT_EQ(by_sid["SigngateInvokeAllowedModels"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-*",
                            "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  const nlohmann::json profiles = {
      "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0"};
  EXPECT_EQ(by_sid["SigngateInvokeAllowedProfiles"]["Resource"], profiles);
  const auto& through = by_sid["SigngateInvokeModelsOnlyThroughProfiles"];
  EXPECT_EQ(through["Resource"],
            nlohmann::json({"arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
                            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  EXPECT_EQ(through["Condition"]["StringLike"]["bedrock:InferenceProfileArn"], profiles);
  const auto& global = by_sid["SigngateInvokeGlobalModelsOnlyThroughGlobalProfiles"];
  EXPECT_EQ(global["Resource"],
            nlohmann::json({"arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  EXPECT_EQ(global["Condition"]["StringEquals"]["aws:RequestedRegion"], "unspecified");
  EXPECT_EQ(global["Condition"]["StringLike"]["bedrock:InferenceProfileArn"], nlohmann::json({profiles[1]}));
  const nlohmann::json guardrails = {"arn:aws:bedrock:us-east-1:111122223333:guardrail/gr0abc:1",
                                     "arn:aws:bedrock:eu-west-1:111122223333:guardrail/gr0abc:1",
                                     "arn:aws:bedrock:us-west-2:111122223333:guardrail/gr0abc:1"};
  EXPECT_EQ(global["Condition"]["StringEquals"]["bedrock:GuardrailIdentifier"], guardrails);
  EXPECT_EQ(by_sid["SigngateApplyClientGuardrails"]["Resource"].size(), 3u);
}

TEST(IamPolicy, PatternsOverlapWhenSomeIdMatchesBoth) {
  EXPECT_TRUE(patterns_overlap("anthropic.claude-*", "anthropic.claude-sonnet-4-5-20250929-v1:0"));
  EXPECT_TRUE(patterns_overlap("anthropic.*", "*.claude-sonnet-*"));
  EXPECT_TRUE(patterns_overlap("*", "us.anthropic.claude-*"));
  EXPECT_TRUE(patterns_overlap("amazon.nova-?ite-v1:0", "amazon.nova-l*"));
  EXPECT_FALSE(patterns_overlap("amazon.nova-*", "anthropic.claude-*"));
  EXPECT_FALSE(patterns_overlap("anthropic.claude-*", "us.anthropic.claude-*"));
  EXPECT_FALSE(patterns_overlap("meta.llama3-8b-instruct-v1:0", "meta.llama3-70b-*"));
  EXPECT_FALSE(patterns_overlap("a?", "a"));
}

// `signgate iam-policy` over a config with routes: what each role is printed.
class IamPolicyRoutes : public testing::Test {
 protected:
  static constexpr const char* kConfig = R"(aws:
  region: us-east-1
  role_arn: arn:aws:iam::111122223333:role/signgate
  external_id: ext-main
identities:
  overflow:
    role_arn: arn:aws:iam::444455556666:role/signgate-bedrock
    external_id: ext-overflow
    region: us-west-2
models:
  sonnet: anthropic.claude-sonnet-4-5-20250929-v1:0
clients:
  - { name: app, secret_sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, models: ["anthropic.claude-sonnet-*"] }
  - name: other
    secret_sha256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    models: ["amazon.nova-*"]
    operations: [converse]
    aws: { role_arn: "arn:aws:iam::777788889999:role/other", external_id: ext-other }
routes:
  - match: [sonnet]
    targets:
      - { identity: default, region: us-east-1 }
      - { identity: overflow }
      - { region: eu-west-1, model: eu.anthropic.claude-sonnet-4-5-20250929-v1:0 }
      - { identity: overflow, region: us-east-1, model: global.anthropic.claude-sonnet-4-5-20250929-v1:0 }
  - name: nova
    match: ["amazon.nova-*"]
    targets:
      - { identity: overflow, region: us-east-2 }
  - name: llama
    match: ["meta.*"]
    targets:
      - { identity: overflow, region: us-east-2 }
)";
  static constexpr const char* kMain = "arn:aws:iam::111122223333:role/signgate";
  static constexpr const char* kOverflow = "arn:aws:iam::444455556666:role/signgate-bedrock";

  struct Printed {
    int rc;
    std::string out, err;
  };
  Printed run(const std::string& role, const std::string& kind) {
    const std::string path = testing::TempDir() + "/signgate_iam_routes.yaml";
    std::ofstream(path) << kConfig;
    cli::IamPolicyArgs args{path, "arn:aws:iam::111122223333:role/base", role, kind};
    std::ostringstream out, err;
    const int rc = cli::run_iam_policy(args, fixed_environment({}), out, err);
    return {rc, out.str(), err.str()};
  }
  nlohmann::json policy(const std::string& role, const std::string& kind) {
    const Printed p = run(role, kind);
    EXPECT_EQ(p.rc, 0) << p.err;
    return nlohmann::json::parse(p.out);
  }
  static std::map<std::string, nlohmann::json> by_sid(const nlohmann::json& policy) {
    std::map<std::string, nlohmann::json> out;
    for (const auto& st : policy["Statement"]) out[st["Sid"].get<std::string>()] = st;
    return out;
  }
};

// The default identity is each client's own role: it gains the route's model (the alias's ID)
// where its targets are, the eu. override through its profile; a client no route serves gains nothing.
TEST_F(IamPolicyRoutes, DefaultTargetsGoToTheClientsOwnRole) {
  auto main = by_sid(policy(kMain, "permissions"));
  EXPECT_EQ(main["SigngateInvokeAllowedModels"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-*",
                            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  EXPECT_EQ(main["SigngateInvokeAllowedProfiles"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:eu-west-1:111122223333:inference-profile/"
                            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  EXPECT_EQ(main["SigngateInvokeModelsOnlyThroughProfiles"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  EXPECT_EQ(main.count("SigngateInvokeGlobalModelsOnlyThroughGlobalProfiles"), 0u) << "the global target is overflow's";
  auto other = by_sid(policy("arn:aws:iam::777788889999:role/other", "permissions"));
  EXPECT_EQ(other.size(), 1u);
  EXPECT_EQ(other["SigngateInvokeAllowedModels"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-*"}));
}

// A named identity's role gets every target's model in that target's region, the global
// profile with its region-less model, the actions of the clients the routes serve, and a trust
// policy for the base identity with the identity's External ID.
TEST_F(IamPolicyRoutes, NamedIdentityRoleGetsItsTargetsAndTrustsTheBaseIdentity) {
  const auto p = policy(kOverflow, "permissions");
  auto overflow = by_sid(p);
  ASSERT_EQ(overflow.size(), 4u) << p.dump(2);
  EXPECT_EQ(overflow["SigngateInvokeAllowedModels"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
                            "arn:aws:bedrock:us-east-2::foundation-model/amazon.nova-*"}));
  EXPECT_EQ(overflow["SigngateInvokeAllowedModels"]["Action"],
            nlohmann::json({"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"}));
  const std::string profile =
      "arn:aws:bedrock:us-east-1:444455556666:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0";
  EXPECT_EQ(overflow["SigngateInvokeAllowedProfiles"]["Resource"], nlohmann::json({profile}));
  EXPECT_EQ(overflow["SigngateInvokeModelsOnlyThroughProfiles"]["Resource"],
            nlohmann::json({"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  const auto& global = overflow["SigngateInvokeGlobalModelsOnlyThroughGlobalProfiles"];
  EXPECT_EQ(global["Resource"],
            nlohmann::json({"arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}));
  EXPECT_EQ(global["Condition"]["StringLike"]["bedrock:InferenceProfileArn"], nlohmann::json({profile}));

  const auto trust = policy(kOverflow, "trust");
  EXPECT_EQ(trust["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::111122223333:role/base");
  EXPECT_EQ(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "ext-overflow");
}

// All of it at once: one policy pair per role, in order, each JSON document valid; a route no
// client may call is warned about, not granted.
TEST_F(IamPolicyRoutes, EveryRoleOncePerRun) {
  const Printed p = run("", "");
  ASSERT_EQ(p.rc, 0) << p.err;
  EXPECT_NE(p.out.find("# Role arn:aws:iam::111122223333:role/signgate — clients: app — routes: sonnet\n"),
            std::string::npos)
      << p.out;
  EXPECT_NE(p.out.find("# Role arn:aws:iam::444455556666:role/signgate-bedrock — identity overflow — routes: sonnet, "
                       "nova\n"),
            std::string::npos)
      << p.out;
  EXPECT_EQ(p.err,
            "iam-policy: warning: no client's models allowlist admits a model of route llama, so its targets are "
            "granted nothing\n");
  std::istringstream lines(p.out);
  std::string line, doc;
  int documents = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0) continue;
    doc += line + "\n";
    if (line == "}") {
      EXPECT_TRUE(nlohmann::json::accept(doc)) << doc;
      ++documents;
      doc.clear();
    }
  }
  EXPECT_EQ(documents, 6) << "a permissions and a trust policy for each of three roles";
}

}  // namespace
}  // namespace signgate::aws
