// count_tokens' estimate of a Messages request's input tokens, for a model Bedrock's
// CountTokens refuses. Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

namespace signgate::api::anthropic {

// An estimate that errs high (never below what the model reads): Claude Code sizes its context
// by it. The formula is above its definition (token_estimate.cc) and in the README. Work is
// linear in the request; the sum saturates.
std::uint64_t estimate_input_tokens(const nlohmann::json& request);

}  // namespace signgate::api::anthropic
