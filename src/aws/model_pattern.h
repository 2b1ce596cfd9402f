// Allowlist patterns over Bedrock model IDs (clients[].models, and the sections that name models
// by pattern as they arrive: route matches, pricing, betas): what a pattern matches, and whether
// it can match any model Bedrock names at all. One validator, so every section refuses alike.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace signgate::aws {

// '*' matches any run of characters (including none), '?' one character; nothing else is special.
bool glob_match(std::string_view pattern, std::string_view text);

// Whether an allowlist entry admits a model ID. "*" admits everything. An ARN pattern
// ("arn:...") admits only ARNs, field by field as IAM matches them: partition, service,
// region and account are globs that cannot cross ':', and only the resource's '*' spans
// '/' and ':'. A pattern of fewer than six fields admits nothing. Any other pattern is a
// glob_match over model IDs that are not ARNs.
bool model_pattern_match(std::string_view pattern, std::string_view model_id);

// Why a pattern can never match a model Bedrock names, and the pattern it probably meant
// (empty when there is no good guess).
struct PatternProblem {
  std::string reason;
  std::string suggestion;
};

// nullopt when `pattern` can match something: a character no model ID holds, an ARN pattern of
// fewer than six fields, a partition or service no Bedrock ARN has, an empty region, an empty
// account for anything but a foundation model, an empty resource, or a plain pattern with a
// '/' (only ARNs hold one) is refused.
std::optional<PatternProblem> model_pattern_problem(std::string_view pattern);

}  // namespace signgate::aws
