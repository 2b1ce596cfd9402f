// Bedrock's service tiers: Converse's `serviceTier: {"type": ...}` and InvokeModel's
// `X-Amzn-Bedrock-Service-Tier` header, and which models Bedrock serves in which tier. The
// callers' dialects name tiers their own way (OpenAI's service_tier "priority", "flex",
// "auto", "default"); each translator maps its names onto these. Pure: no I/O.
#pragma once

#include <string_view>

namespace signgate::api {

enum class ServiceTier { kDefault, kPriority, kFlex };

// Bedrock's name for the tier ("default", "priority", "flex").
std::string_view tier_name(ServiceTier tier);

// Whether `tier` is a tier name as Bedrock reports one ("default", "priority", a tier it adds
// later): a plain lower-case word of at most 32 bytes. Anything else from the wire is not
// repeated to a caller or the audit line.
bool tier_word(std::string_view tier);

// Whether Bedrock serves `model` (a model ID, a cross-Region profile, or the family an
// application inference profile serves) in `tier`. The default tier serves every model.
bool tier_available(std::string_view model, ServiceTier tier);

// The tier a caller asked for as Bedrock can serve it for `model`: a tier the model lacks
// becomes the default tier (the answer then says so), as Bedrock would refuse it with a 400.
ServiceTier tier_for(std::string_view model, ServiceTier asked);

}  // namespace signgate::api
