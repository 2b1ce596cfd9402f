// Anthropic's beta features, as Bedrock takes them: the `anthropic-beta` header (comma-separated,
// possibly repeated) becomes the InvokeModel body's `anthropic_beta` array, keeping the betas
// Bedrock accepts for that model and dropping the rest, so a client that sends first-party betas
// (Claude Code does) is still answered instead of being refused with "invalid beta flag". Which
// betas a model takes differs per model (anthropics/claude-code#49370): a policy chooses them by
// the model ID sent to Bedrock. Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace signgate::api::anthropic {

// At most this many betas are read from one request; each at most kMaxBetaLength bytes.
inline constexpr std::size_t kMaxBetas = 64;
inline constexpr std::size_t kMaxBetaLength = 128;

// A Claude model as its ID names it: the line ("opus", "sonnet", "haiku"; empty for Claude 3.x
// IDs that name none) and the version. Read from any model ID, profile or ARN naming it
// ("us.anthropic.claude-sonnet-4-5-20250929-v1:0" → sonnet 4.5, "anthropic.claude-3-7-sonnet-..."
// → sonnet 3.7); nullopt when the ID names no Claude version (an application inference profile).
struct ClaudeModel {
  std::string line;
  int major = 0;
  int minor = 0;
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
};
std::optional<ClaudeModel> claude_model(std::string_view model_id);

// The betas Bedrock documents for a model's family: signgate's shipped defaults (dated table in
// betas.cc). Empty for a model that is not a Claude model signgate knows.
const std::set<std::string>& documented_betas(std::string_view family);

// Every beta the table names for some model (the union of documented_betas over all families).
const std::vector<std::string>& default_bedrock_betas();

// One anthropic.betas entry: the betas sent for the models `model` matches (a glob, '*' and '?').
struct BetaRule {
  std::string model;
  std::vector<std::string> betas;
};

// Which betas go to Bedrock for a model: the first rule whose glob matches the model ID as sent
// wins; no rule matching (or no rules) means the documented betas of the model's family. The
// family is the one `families` names for the ID (an application inference profile's ARN), else
// the ID itself.
class BetaPolicy {
 public:
  BetaPolicy() = default;  // shipped defaults for every model
  BetaPolicy(const std::vector<BetaRule>& rules, std::map<std::string, std::string> families);

  const std::set<std::string>& accepted(std::string_view model_as_sent, std::string_view family) const;
  const std::set<std::string>& accepted(std::string_view model_as_sent) const {
    return accepted(model_as_sent, family_of(model_as_sent));
  }
  std::string_view family_of(std::string_view model_id) const;

 private:
  struct Rule {
    std::string glob;
    std::set<std::string> betas;
  };
  std::vector<Rule> rules_;
  std::map<std::string, std::string, std::less<>> families_;
};

// The betas named by every value of the anthropic-beta header: split on ',', trimmed, empty
// ones and repeats dropped, in order of first appearance, at most kMaxBetas.
std::vector<std::string> parse_beta_header(const std::vector<std::string_view>& values);

// Sets `body`'s anthropic_beta to the union of what it already asks for and `requested`,
// keeping only what `accepted` holds (the key is removed when nothing is left). Returns the
// betas dropped, for the metric and the log.
std::vector<std::string> apply_betas(nlohmann::json& body, const std::vector<std::string>& requested,
                                     const std::set<std::string>& accepted);

// An InvokeModel body (JSON text) whose anthropic_beta is filtered again for another model ID
// than the one it was built for (a route's target may name a different model): the new body and
// the betas dropped. nullopt when nothing changes (no anthropic_beta, every beta accepted, or the
// body is not a JSON object nested at most `max_depth` deep): send the body as it is.
struct RefilteredBody {
  std::string body;
  std::vector<std::string> dropped;
};
std::optional<RefilteredBody> refilter_invoke_body(std::string_view body, const BetaPolicy& policy,
                                                   std::string_view model_id, int max_depth);
// The same for a CountTokens body: the InvokeModel body inside it, base64-encoded, filtered again.
std::optional<RefilteredBody> refilter_count_tokens_body(std::string_view body, const BetaPolicy& policy,
                                                         std::string_view model_id, int max_depth);

}  // namespace signgate::api::anthropic
