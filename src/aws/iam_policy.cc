#include "aws/iam_policy.h"

#include <algorithm>

#include "aws/model_id.h"

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

// Global profiles follow AWS's "IAM policy requirements for global cross-Region inference":
// the profile, the model in the source region, and the region-less model ARN (requested in
// region "unspecified"), both only through the profile.
// https://docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html
ModelGrants model_grants(const std::string& pattern, const std::string& region, const std::string& account) {
  ModelGrants out;
  const std::string fm = "bedrock:*::foundation-model/";  // every region a geography routes to
  if (pattern.rfind("arn:", 0) == 0) {
    const auto slash = pattern.find(":inference-profile/");
    const auto app = pattern.find(":application-inference-profile/");
    if (slash != std::string::npos) {
      add(out.profiles, pattern);
      const std::string id = pattern.substr(slash + 19);
      const std::string underlying = strip_profile_prefix(id);
      const std::string model = underlying.empty() ? "*" : underlying;
      if (const auto f = arn_fields(pattern); f && id.rfind("global.", 0) == 0) {
        std::string prefix = "arn:";
        prefix.append((*f)[1]).append(":");
        std::string in_source = prefix + "bedrock:";
        in_source.append((*f)[3]).append("::foundation-model/").append(model);
        add(out.through_profiles, std::move(in_source));
        add(out.regionless, prefix + "bedrock:::foundation-model/" + model);
      } else {
        add(out.through_profiles, arn_prefix(region) + fm + model);
      }
    } else if (app != std::string::npos) {
      // An application profile names no model (and may copy a global one): any, but only through it.
      add(out.profiles, pattern);
      add(out.through_profiles, arn_prefix(region) + fm + "*");
      add(out.regionless, arn_prefix(region) + "bedrock:::foundation-model/*");
    } else {
      add(out.direct, pattern);
    }
    return out;
  }
  if (pattern == "*") {
    add(out.direct, arn_prefix(region) + "bedrock:" + region + "::foundation-model/*");
    add(out.profiles, arn_prefix(region) + "bedrock:" + region + ":" + account + ":inference-profile/*");
    add(out.through_profiles, arn_prefix(region) + fm + "*");
    add(out.regionless, arn_prefix(region) + "bedrock:::foundation-model/*");
    return out;
  }
  if (const std::string underlying = strip_profile_prefix(pattern); !underlying.empty()) {
    add(out.profiles, arn_prefix(region) + "bedrock:" + region + ":" + account + ":inference-profile/" + pattern);
    if (pattern.rfind("global.", 0) == 0) {
      add(out.through_profiles, arn_prefix(region) + "bedrock:" + region + "::foundation-model/" + underlying);
      add(out.regionless, arn_prefix(region) + "bedrock:::foundation-model/" + underlying);
    } else {
      add(out.through_profiles, arn_prefix(region) + fm + underlying);  // routed across the geography
    }
    return out;
  }
  add(out.direct, arn_prefix(region) + "bedrock:" + region + "::foundation-model/" + pattern);
  return out;
}

bool patterns_overlap(std::string_view a, std::string_view b) {
  // Walk both globs at once: a state is a position in each; '*' may match nothing, and one
  // character may be taken from both when some character satisfies both positions.
  const std::size_t w = b.size() + 1;
  std::vector<char> seen((a.size() + 1) * w, 0);
  std::vector<std::pair<std::size_t, std::size_t>> todo{{0, 0}};
  while (!todo.empty()) {
    const auto [i, j] = todo.back();
    todo.pop_back();
    if (seen[i * w + j]) continue;
    seen[i * w + j] = 1;
    if (i == a.size() && j == b.size()) return true;
    if (i < a.size() && a[i] == '*') todo.emplace_back(i + 1, j);
    if (j < b.size() && b[j] == '*') todo.emplace_back(i, j + 1);
    if (i == a.size() || j == b.size()) continue;
    const bool any_a = a[i] == '*' || a[i] == '?';
    const bool any_b = b[j] == '*' || b[j] == '?';
    if (!any_a && !any_b && a[i] != b[j]) continue;
    if (a[i] == '*' && b[j] == '*') continue;  // both stay: nothing gained
    todo.emplace_back(a[i] == '*' ? i : i + 1, b[j] == '*' ? j : j + 1);
  }
  return false;
}

std::vector<std::string> model_resources(const std::string& pattern, const std::string& region,
                                         const std::string& account) {
  ModelGrants g = model_grants(pattern, region, account);
  std::vector<std::string> out;
  for (auto* list : {&g.profiles, &g.direct, &g.through_profiles, &g.regionless}) {
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
  std::vector<std::string> resources, direct, profiles, through, global_profiles, regionless;
  std::vector<std::string> regions{scope.region};
  const auto grant = [&](const std::string& pattern, const std::string& region) {
    ModelGrants g = model_grants(pattern, region, scope.account);
    for (auto& r : g.direct) add(direct, std::move(r));
    for (const auto& r : g.profiles) {
      if (!g.regionless.empty()) add(global_profiles, r);
      add(profiles, r);
    }
    for (auto& r : g.through_profiles) add(through, std::move(r));
    for (auto& r : g.regionless) add(regionless, std::move(r));
  };
  for (const auto& m : scope.models) {
    for (auto& r : model_resources(m, scope.region, scope.account)) add(resources, std::move(r));
    grant(m, scope.region);
  }
  for (const auto& routed : scope.routed) {
    grant(routed.pattern, routed.region);
    add(regions, routed.region);
  }
  nlohmann::json actions = nlohmann::json::array();
  if (scope.invoke) actions.push_back("bedrock:InvokeModel");
  if (scope.streaming) actions.push_back("bedrock:InvokeModelWithResponseStream");
  if (scope.count_tokens) actions.push_back("bedrock:CountTokens");
  std::vector<std::string> guardrail_arns, condition_values;
  for (const auto& [id, version] : scope.guardrails) {
    for (const auto& region : regions) {  // an ID names the guardrail of the region invoked
      const std::string arn = guardrail_arn(id, region, scope.account);
      add(guardrail_arns, arn);
      add(condition_values, guardrail_condition_value(arn, version));
    }
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
  // What a global profile reaches, as AWS documents it: the region-less model ARN, requested
  // in region "unspecified", and only through the global profiles.
  nlohmann::json global_condition = guarded;
  global_condition["StringEquals"]["aws:RequestedRegion"] = "unspecified";
  global_condition["StringLike"] = {{"bedrock:InferenceProfileArn", global_profiles}};
  invoke("SigngateInvokeGlobalModelsOnlyThroughGlobalProfiles", regionless, global_condition);
  if (!guardrail_arns.empty()) {
    // Invoking with a guardrail applies it: the role needs ApplyGuardrail on those alone.
    statements.push_back({{"Sid", "SigngateApplyClientGuardrails"},
                          {"Effect", "Allow"},
                          {"Action", {"bedrock:ApplyGuardrail"}},
                          {"Resource", guardrail_arns}});
  }
  if (scope.mantle) {
    // Bedrock Mantle's OpenAI API (GPT-5.x, gpt-oss): its one inference action, on the account's
    // projects in this region (a call naming none uses the default project). The action and
    // resource are AWS's managed AmazonBedrockMantleInferenceAccess, narrowed to the region and
    // account; Mantle has no per-model resource.
    statements.push_back({{"Sid", "SigngateMantleInference"},
                          {"Effect", "Allow"},
                          {"Action", {"bedrock-mantle:CreateInference"}},
                          {"Resource", arn_prefix(scope.region) + "bedrock-mantle:" + scope.region + ":" +
                                           (scope.account.empty() ? "*" : scope.account) + ":project/*"}});
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
