// Anthropic's beta features, as Bedrock takes them: the `anthropic-beta` header (comma-separated,
// possibly repeated) becomes the InvokeModel body's `anthropic_beta` array, keeping the betas
// Bedrock accepts and dropping the rest, so a client that sends first-party betas (Claude Code
// does) is still answered instead of being refused with "invalid beta flag". Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace signgate::api::anthropic {

// The betas Bedrock documents for Claude models: `anthropic.betas` when the config says nothing.
const std::vector<std::string>& default_bedrock_betas();

// At most this many betas are read from one request; each at most kMaxBetaLength bytes.
inline constexpr std::size_t kMaxBetas = 64;
inline constexpr std::size_t kMaxBetaLength = 128;

// The betas named by every value of the anthropic-beta header: split on ',', trimmed, empty
// ones and repeats dropped, in order of first appearance, at most kMaxBetas.
std::vector<std::string> parse_beta_header(const std::vector<std::string_view>& values);

// Sets `body`'s anthropic_beta to the union of what it already asks for and `requested`,
// keeping only what `accepted` holds (the key is removed when nothing is left). Returns the
// betas dropped, for the metric and the log.
std::vector<std::string> apply_betas(nlohmann::json& body, const std::vector<std::string>& requested,
                                     const std::set<std::string>& accepted);

}  // namespace signgate::api::anthropic
