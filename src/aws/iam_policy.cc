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

void add(std::vector<std::string>& out, std::string arn) {
  if (std::find(out.begin(), out.end(), arn) == out.end()) out.push_back(std::move(arn));
}

}  // namespace

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

std::vector<std::string> model_resources(const std::string& pattern, const std::string& region,
                                         const std::string& account) {
  std::vector<std::string> out;
  const std::string foundation = "arn:aws:bedrock:" + region + "::foundation-model/";
  if (pattern.rfind("arn:", 0) == 0) {
    add(out, pattern);
    const auto slash = pattern.find("inference-profile/");
    if (slash != std::string::npos) {
      const std::string underlying = strip_profile_prefix(pattern.substr(slash + 18));
      if (!underlying.empty()) add(out, "arn:aws:bedrock:*::foundation-model/" + underlying);
    }
    return out;
  }
  if (pattern == "*") {
    add(out, "arn:aws:bedrock:*::foundation-model/*");
    add(out, "arn:aws:bedrock:" + region + ":" + account + ":inference-profile/*");
    return out;
  }
  if (const std::string underlying = strip_profile_prefix(pattern); !underlying.empty()) {
    add(out, "arn:aws:bedrock:" + region + ":" + account + ":inference-profile/" + pattern);
    add(out, "arn:aws:bedrock:*::foundation-model/" + underlying);  // the profile routes across regions
    return out;
  }
  add(out, foundation + pattern);
  return out;
}

std::string guardrail_arn(const std::string& id, const std::string& region, const std::string& account) {
  if (id.rfind("arn:", 0) == 0) return id;
  return "arn:aws:bedrock:" + region + ":" + account + ":guardrail/" + id;
}

std::string guardrail_condition_value(const std::string& arn, const std::string& version) {
  return version == "DRAFT" ? arn : arn + ":" + version;
}

nlohmann::json permissions_policy(const PolicyScope& scope) {
  std::vector<std::string> resources;
  for (const auto& m : scope.models) {
    for (auto& r : model_resources(m, scope.region, scope.account)) add(resources, std::move(r));
  }
  nlohmann::json actions = nlohmann::json::array();
  if (scope.invoke) actions.push_back("bedrock:InvokeModel");
  if (scope.streaming) actions.push_back("bedrock:InvokeModelWithResponseStream");
  if (scope.count_tokens) actions.push_back("bedrock:CountTokens");
  nlohmann::json invoke = {
      {"Sid", "SigngateInvokeAllowedModels"}, {"Effect", "Allow"}, {"Action", actions}, {"Resource", resources}};
  std::vector<std::string> guardrail_arns, condition_values;
  for (const auto& [id, version] : scope.guardrails) {
    const std::string arn = guardrail_arn(id, scope.region, scope.account);
    add(guardrail_arns, arn);
    add(condition_values, guardrail_condition_value(arn, version));
  }
  if (scope.every_client_guarded && !condition_values.empty()) {
    invoke["Condition"] = {{"StringEquals", {{"bedrock:GuardrailIdentifier", condition_values}}}};
  }
  nlohmann::json statements = nlohmann::json::array({std::move(invoke)});
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

nlohmann::json trust_policy(const std::string& principal, const std::string& external_id) {
  nlohmann::json statement = {{"Sid", "SigngateAssumesThisRole"},
                              {"Effect", "Allow"},
                              {"Principal", {{"AWS", principal}}},
                              {"Action", "sts:AssumeRole"}};
  if (!external_id.empty()) statement["Condition"] = {{"StringEquals", {{"sts:ExternalId", external_id}}}};
  return {{"Version", "2012-10-17"}, {"Statement", {statement}}};
}

}  // namespace signgate::aws
