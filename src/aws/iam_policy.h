// The least-privilege IAM policies for a config (`signgate iam-policy`): what the role may
// invoke, and whom it trusts with which External ID. Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace signgate::aws {

// The resource ARNs a model allowlist entry needs: a foundation model in `region`; a
// cross-region inference profile (us., eu., apac., global., ...) in the account plus its
// foundation model in every region it routes to (a global one's region-less ARN included); a
// full ARN as given. Globs stay globs.
std::vector<std::string> model_resources(const std::string& pattern, const std::string& region,
                                         const std::string& account);

// What an allowlist entry needs, split by how a call reaches the model: foundation models
// invoked directly (in `region`), inference profiles, and the foundation models behind those
// profiles in every region they route to, which the role may use only through a profile
// (the bedrock:InferenceProfileArn condition), never directly. A global. profile's model is
// granted in the source region and, since it may run in any commercial region, under its
// region-less ARN (arn:aws:bedrock:::foundation-model/ID, requested in region "unspecified"):
// `regionless`.
struct ModelGrants {
  std::vector<std::string> direct;
  std::vector<std::string> profiles;
  std::vector<std::string> through_profiles;
  std::vector<std::string> regionless;
};
ModelGrants model_grants(const std::string& pattern, const std::string& region, const std::string& account);

// The ARN partition of a region: aws, aws-us-gov, aws-cn, aws-iso, aws-iso-b, aws-iso-e,
// aws-iso-f or aws-eusc.
std::string partition_of(const std::string& region);

// The account ID in an IAM role ARN, or "*" when there is none.
std::string account_of(const std::string& role_arn);

// A model pattern a route's target sends, in the target's region (SPEC §7).
struct RegionalModel {
  std::string pattern;
  std::string region;
};

// Whether some model ID could match both allowlist patterns (globs of '*' and '?', compared
// whole; "*" overlaps everything). Never false when both match one ID.
bool patterns_overlap(std::string_view a, std::string_view b);

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
  // What routes send with this role, each in its target's region; a guardrail given by ID is
  // granted in each of those regions too.
  std::vector<RegionalModel> routed;
  bool mantle = false;  // some client may call a models: api: openai model on Mantle
};

// The ARN of a guardrail given by ID or ARN, and the bedrock:GuardrailIdentifier value a call
// with that version carries (the ARN, with ":VERSION" unless the version is DRAFT).
std::string guardrail_arn(const std::string& id, const std::string& region, const std::string& account);
std::string guardrail_condition_value(const std::string& arn, const std::string& version);

nlohmann::json permissions_policy(const PolicyScope& scope);

// What AssumeRole sends besides the role: the External IDs of the clients using the role,
// and whether a SourceIdentity or session tags go with it (each needs its own action).
struct TrustScope {
  std::vector<std::string> external_ids;
  bool source_identity = false;
  bool tags = false;
};

// sts:AssumeRole for `principal` (plus sts:SetSourceIdentity, sts:TagSession when sent), with
// the sts:ExternalId condition when External IDs are configured.
nlohmann::json trust_policy(const std::string& principal, const TrustScope& scope);
nlohmann::json trust_policy(const std::string& principal, const std::string& external_id);

}  // namespace signgate::aws
