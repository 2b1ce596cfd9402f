// The least-privilege IAM policies for a config (`signgate iam-policy`): what the role may
// invoke, and whom it trusts with which External ID. Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace signgate::aws {

// The resource ARNs a model allowlist entry needs: a foundation model in `region`; a
// cross-region inference profile (us., eu., apac., global., ...) in the account plus its
// foundation model in every region it routes to; a full ARN as given. Globs stay globs.
std::vector<std::string> model_resources(const std::string& pattern, const std::string& region,
                                         const std::string& account);

// The account ID in an IAM role ARN, or "*" when there is none.
std::string account_of(const std::string& role_arn);

struct PolicyScope {
  std::string region;
  std::string account;
  std::vector<std::string> models;  // allowlist entries of the clients that use this role
  bool streaming = true;            // some client may call invoke-stream / converse-stream
  bool count_tokens = true;         // some client may call count-tokens
  bool invoke = true;               // some client may call invoke / converse
  bool discovery = false;           // discovery: true and some client may call discovery
  // The guardrails (ID or ARN, version) the clients of this role are held to; when every client
  // has one, IAM enforces it too (the bedrock:GuardrailIdentifier condition).
  std::vector<std::pair<std::string, std::string>> guardrails;
  bool every_client_guarded = false;
};

// The ARN of a guardrail given by ID or ARN, and the bedrock:GuardrailIdentifier value a call
// with that version carries (the ARN, with ":VERSION" unless the version is DRAFT).
std::string guardrail_arn(const std::string& id, const std::string& region, const std::string& account);
std::string guardrail_condition_value(const std::string& arn, const std::string& version);

nlohmann::json permissions_policy(const PolicyScope& scope);

// sts:AssumeRole for `principal`, with the sts:ExternalId condition when one is configured.
nlohmann::json trust_policy(const std::string& principal, const std::string& external_id);

}  // namespace signgate::aws
