// The model IDs Bedrock runtime accepts in /model/{modelId}/..., checked by hand (no regex).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace signgate::aws {

// Bedrock's own bound on modelId (InvokeModel, Converse).
inline constexpr std::size_t kMaxModelIdSize = 2048;

// True when `id` (decoded) fits botocore's bedrock-runtime service-2.json InvokeModelIdentifier
// pattern, matched whole, 1 to 2048 bytes: a plain ID of [A-Za-z0-9:.-] ("anthropic.claude-3-
// haiku-20240307-v1:0", "us.amazon.nova-lite-v1:0") or of [A-Za-z0-9_-] with no "__"/"_-"
// ("my_model"), or an ARN of a foundation model, custom model, imported model, provisioned
// model, custom model deployment, (application) inference profile, prompt, (default) prompt
// router, or SageMaker endpoint. Stricter than the pattern in three ways: "." and ".." (path dot
// segments) are refused, a partition is "aws" or "aws-[a-z0-9-]+" (the pattern allows any
// non-':' byte), and anything starting "arn:" must be one of those ARNs.
bool valid_model_id(std::string_view id);

// An ARN's six fields, arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, split on its first five
// ':' (a resource may hold more, "foundation-model/...-v1:0"); nullopt with fewer.
std::optional<std::array<std::string_view, 6>> arn_fields(std::string_view arn);

}  // namespace signgate::aws
