#include "aws/iam_policy.h"

#include <algorithm>

namespace signgate::aws {
namespace {

// Geography prefixes of cross-region (system-defined) inference profiles.
constexpr const char* kProfilePrefixes[] = {"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."};

std::string strip_profile_prefix(const std::string& id) {
  for (const char* p : kProfilePrefixes) {
    if (id.rfind(p, 0) == 0) return id.substr(std::char_traits<char>::length(p));
  }
  return {};
}

// "arn:PARTITION:" for a region: GovCloud, China, the ISO and sovereign partitions each have
// their own, and a policy naming arn:aws: there would match nothing.
std::string arn_prefix(const std::string& region) { return "arn:" + partition_of(region) + ":"; }

void add(std::vector<std::string>& out, std::string arn) {
  if (std::find(out.begin(), out.end(), arn) == out.end()) out.push_back(std::move(arn));
}

}  // namespace

std::string partition_of(const std::string& region) {
  static constexpr std::pair<const char*, const char*> kPartitions[] = {
      {"us-gov-", "aws-us-gov"}, {"cn-", "aws-cn"},      {"us-isob-", "aws-iso-b"}, {"us-isof-", "aws-iso-f"},
      {"eu-isoe-", "aws-iso-e"}, {"us-iso-", "aws-iso"}, {"eusc-", "aws-eusc"}};
  for (const auto& [prefix, partition] : kPartitions) {
    if (region.rfind(prefix, 0) == 0) return partition;
  }
  return "aws";
}

std::string account_of(const std::string& role_arn) {
  // arn:aws:iam::111122223333:role/name
  std::size_t start = 0;
  for (int field = 0; field < 4; ++field) {
    start = role_arn.find(':', start);
    if (start == std::string::npos) return "*";
    ++start;
  }
  const std::size_t end = role_arn.find(':', start);
  if (end == std::string::npos || end == start) return "*";
  return role_arn.substr(start, end - start);
}

ModelGrants model_grants(const std::string& pattern, const std::string& region, const std::string& account) {
  ModelGrants out;
  if (pattern.rfind("arn:", 0) == 0) {
    const auto slash = pattern.find(":inference-profile/");
    const auto app = pattern.find(":application-inference-profile/");
    if (slash != std::string::npos) {
      add(out.profiles, pattern);
      const std::string underlying = strip_profile_prefix(pattern.substr(slash + 19));
      add(out.through_profiles,
          arn_prefix(region) + "bedrock:*::foundation-model/" + (underlying.empty() ? "*" : underlying));
    } else if (app != std::string::npos) {
      // An application profile names no model: any, but only through this profile.
      add(out.profiles, pattern);
      add(out.through_profiles, arn_prefix(region) + "bedrock:*::foundation-model/*");
    } else {
      add(out.direct, pattern);
    }
    return out;
  }
  if (pattern == "*") {
    add(out.direct, arn_prefix(region) + "bedrock:" + region + "::foundation-model/*");
    add(out.profiles, arn_prefix(region) + "bedrock:" + region + ":" + account + ":inference-profile/*");
    add(out.through_profiles, arn_prefix(region) + "bedrock:*::foundation-model/*");
    return out;
  }
  if (const std::string underlying = strip_profile_prefix(pattern); !underlying.empty()) {
    add(out.profiles, arn_prefix(region) + "bedrock:" + region + ":" + account + ":inference-profile/" + pattern);
    add(out.through_profiles,
        arn_prefix(region) + "bedrock:*::foundation-model/" + underlying);  // routed across regions
    return out;
  }
  add(out.direct, arn_prefix(region) + "bedrock:" + region + "::foundation-model/" + pattern);
  return out;
}

std::vector<std::string> model_resources(const std::string& pattern, const std::string& region,
                                         const std::string& account) {
  ModelGrants g = model_grants(pattern, region, account);
  std::vector<std::string> out;
  for (auto* list : {&g.profiles, &g.direct, &g.through_profiles}) {
    for (auto& arn : *list) add(out, std::move(arn));
  }
  return out;
}

std::string guardrail_arn(const std::string& id, const std::string& region, const std::string& account) {
  if (id.rfind("arn:", 0) == 0) return id;
  return arn_prefix(region) + "bedrock:" + region + ":" + account + ":guardrail/" + id;
}

std::string guardrail_condition_value(const std::string& arn, const std::string& version) {
  return version == "DRAFT" ? arn : arn + ":" + version;
}

nlohmann::json permissions_policy(const PolicyScope& scope) {
  std::vector<std::string> resources, direct, profiles, through;
  for (const auto& m : scope.models) {
    for (auto& r : model_resources(m, scope.region, scope.account)) add(resources, std::move(r));
    ModelGrants g = model_grants(m, scope.region, scope.account);
    for (auto& r : g.direct) add(direct, std::move(r));
    for (auto& r : g.profiles) add(profiles, std::move(r));
    for (auto& r : g.through_profiles) add(through, std::move(r));
  }
  nlohmann::json actions = nlohmann::json::array();
  if (scope.invoke) actions.push_back("bedrock:InvokeModel");
  if (scope.streaming) actions.push_back("bedrock:InvokeModelWithResponseStream");
  if (scope.count_tokens) actions.push_back("bedrock:CountTokens");
  std::vector<std::string> guardrail_arns, condition_values;
  for (const auto& [id, version] : scope.guardrails) {
    const std::string arn = guardrail_arn(id, scope.region, scope.account);
    add(guardrail_arns, arn);
    add(condition_values, guardrail_condition_value(arn, version));
  }
  nlohmann::json guarded = nlohmann::json::object();
  if (scope.every_client_guarded && !condition_values.empty()) {
    guarded["StringEquals"] = {{"bedrock:GuardrailIdentifier", condition_values}};
  }
  nlohmann::json statements = nlohmann::json::array();
  const auto invoke = [&](const char* sid, const std::vector<std::string>& arns, nlohmann::json condition) {
    if (arns.empty()) return;
    nlohmann::json st = {{"Sid", sid}, {"Effect", "Allow"}, {"Action", actions}, {"Resource", arns}};
    if (!condition.empty()) st["Condition"] = std::move(condition);
    statements.push_back(std::move(st));
  };
  invoke("SigngateInvokeAllowedModels", direct, guarded);
  invoke("SigngateInvokeAllowedProfiles", profiles, guarded);
  // The models behind a profile, in every region it routes to, but only when called through
  // one of the allowed profiles: a direct call to those models in any region is refused.
  nlohmann::json through_condition = guarded;
  through_condition["StringLike"] = {{"bedrock:InferenceProfileArn", profiles}};
  invoke("SigngateInvokeModelsOnlyThroughProfiles", through, through_condition);
  if (!guardrail_arns.empty()) {
    // Invoking with a guardrail applies it: the role needs ApplyGuardrail on those alone.
    statements.push_back({{"Sid", "SigngateApplyClientGuardrails"},
                          {"Effect", "Allow"},
                          {"Action", {"bedrock:ApplyGuardrail"}},
                          {"Resource", guardrail_arns}});
  }
  if (scope.discovery) {
    // The list operations take no resource; the reads are held to the allowed models.
    statements.push_back({{"Sid", "SigngateListModels"},
                          {"Effect", "Allow"},
                          {"Action", {"bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"}},
                          {"Resource", "*"}});
    statements.push_back({{"Sid", "SigngateReadAllowedModels"},
                          {"Effect", "Allow"},
                          {"Action", {"bedrock:GetFoundationModel", "bedrock:GetInferenceProfile"}},
                          {"Resource", resources}});
  }
  return {{"Version", "2012-10-17"}, {"Statement", std::move(statements)}};
}

nlohmann::json trust_policy(const std::string& principal, const TrustScope& scope) {
  nlohmann::json actions = nlohmann::json::array({"sts:AssumeRole"});
  if (scope.source_identity) actions.push_back("sts:SetSourceIdentity");
  if (scope.tags) actions.push_back("sts:TagSession");
  nlohmann::json statement = {{"Sid", "SigngateAssumesThisRole"},
                              {"Effect", "Allow"},
                              {"Principal", {{"AWS", principal}}},
                              {"Action", actions.size() == 1 ? actions[0] : actions}};
  if (scope.external_ids.size() == 1) {
    statement["Condition"] = {{"StringEquals", {{"sts:ExternalId", scope.external_ids[0]}}}};
  } else if (!scope.external_ids.empty()) {
    statement["Condition"] = {{"StringEquals", {{"sts:ExternalId", scope.external_ids}}}};
  }
  return {{"Version", "2012-10-17"}, {"Statement", {statement}}};
}

nlohmann::json trust_policy(const std::string& principal, const std::string& external_id) {
  TrustScope scope;
  if (!external_id.empty()) scope.external_ids.push_back(external_id);
  return trust_policy(principal, scope);
}

}  // namespace signgate::aws
