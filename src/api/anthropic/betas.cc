#include "api/anthropic/betas.h"

#include <algorithm>
#include <cctype>

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "aws/model_pattern.h"
#include "common/base64.h"

namespace signgate::api::anthropic {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void add_once(std::vector<std::string>& out, std::string_view beta) {
  if (beta.empty() || out.size() >= kMaxBetas) return;
  if (beta.size() > kMaxBetaLength) beta = beta.substr(0, kMaxBetaLength);
  if (std::find(out.begin(), out.end(), beta) == out.end()) out.emplace_back(beta);
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

// Bedrock's documented betas per Claude family, as of its user guide's "Anthropic Claude Messages
// API: request and response" page (the Opus 4.5 edition, Nov-Dec 2025), with what later reports
// settled for newer models:
//   computer-use-2024-10-22          Claude 3.5 Sonnet v2 (the page's request example)
//   computer-use-2025-01-24          Claude 3.7 Sonnet
//   output-128k-2025-02-19           Claude 3.7 Sonnet
//   token-efficient-tools-2025-02-19 Claude 3.7 Sonnet and Claude 4+
//   interleaved-thinking-2025-05-14  Claude 4+
//   context-1m-2025-08-07            Claude Sonnet 4, and Sonnet 4.5 (AWS's service-tiers page,
//                                    2026-02-15: "1M context length for Sonnet 4.5 is not supported
//                                    by the Reserved tier", so the other tiers take it)
//   context-management-2025-06-27    Claude Sonnet 4.5 and Haiku 4.5
//   effort-2025-11-24, tool-search-tool-2025-10-19, tool-examples-2025-10-29   Claude Opus 4.5
//   tool-search-tool-2025-10-19      also Claude Sonnet 4.5: Claude Code's own Bedrock mode
//                                    (2.1.197, 2026) sends it there with interleaved-thinking
// Left out: dev-full-thinking-2025-05-14 (Claude 4+, but only for accounts AWS enabled: such an
// operator names it in anthropic.betas). Opus 4.6 and Sonnet 4.6 postdate the page: they get what
// it says of every Claude 4+ model. Claude Opus 4.7 and later (any Claude >= 4.7 or 5): none.
// Reports disagree on what Bedrock takes there (claude-code#49370, 2026-04-16: only
// interleaved-thinking; #49490 and earendil-works/pi#3290, same day: interleaved-thinking refused
// too, adaptive thinking needs no beta; #49648, 2026-04-17: every beta refused). The one set no
// report saw refused is the empty one; an operator who knows better says so in anthropic.betas.
const std::set<std::string>& table_entry(const std::optional<ClaudeModel>& m) {
  static const std::set<std::string> kNone;
  static const std::set<std::string> kSonnet35 = {"computer-use-2024-10-22"};
  static const std::set<std::string> kSonnet37 = {"computer-use-2025-01-24", "output-128k-2025-02-19",
                                                  "token-efficient-tools-2025-02-19"};
  static const std::set<std::string> kClaude4 = {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14"};
  static const std::set<std::string> kSonnet4 = {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14",
                                                 "context-1m-2025-08-07"};
  static const std::set<std::string> kSonnet45 = {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14",
                                                  "context-1m-2025-08-07", "context-management-2025-06-27",
                                                  "tool-search-tool-2025-10-19"};
  static const std::set<std::string> kHaiku45 = {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14",
                                                 "context-management-2025-06-27"};
  static const std::set<std::string> kOpus45 = {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14",
                                                "effort-2025-11-24", "tool-search-tool-2025-10-19",
                                                "tool-examples-2025-10-29"};
  if (!m) return kNone;
  if (m->at_least(4, 7)) return kNone;
  if (m->major == 4) {
    if (m->minor == 0 && m->line == "sonnet") return kSonnet4;
    if (m->minor == 5 && m->line == "sonnet") return kSonnet45;
    if (m->minor == 5 && m->line == "haiku") return kHaiku45;
    if (m->minor == 5 && m->line == "opus") return kOpus45;
    return kClaude4;
  }
  if (m->major == 3 && m->minor == 7 && m->line == "sonnet") return kSonnet37;
  if (m->major == 3 && m->minor == 5 && m->line == "sonnet") return kSonnet35;
  return kNone;
}

}  // namespace

std::optional<ClaudeModel> claude_model(std::string_view model_id) {
  const auto at = model_id.find("claude-");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = model_id.substr(at + 7);
  ClaudeModel m;
  int numbers[2] = {0, 0};
  int found = 0;
  const auto is_word = [](std::string_view t) {
    return !t.empty() && t.size() <= 16 && std::all_of(t.begin(), t.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  };
  while (!rest.empty()) {
    const auto dash = rest.find('-');
    const std::string_view token = rest.substr(0, dash);
    if (all_digits(token) && token.size() <= 2 && found < 2) {
      numbers[found++] = token.size() == 1 ? token[0] - '0' : (token[0] - '0') * 10 + (token[1] - '0');
    } else if (is_word(token) && m.line.empty()) {
      m.line = std::string(token);  // "sonnet-4-5" names the line first, "3-5-sonnet" after the version
      if (found > 0) break;
    } else {
      break;  // a date, "v1:0"
    }
    if (dash == std::string_view::npos) break;
    rest.remove_prefix(dash + 1);
  }
  if (found == 0) return std::nullopt;
  m.major = numbers[0];
  m.minor = numbers[1];
  return m;
}

const std::set<std::string>& documented_betas(std::string_view family) { return table_entry(claude_model(family)); }

const std::vector<std::string>& default_bedrock_betas() {
  static const std::vector<std::string> kAll = [] {
    std::set<std::string> all;
    for (const char* id : {"claude-3-5-sonnet", "claude-3-7-sonnet", "claude-sonnet-4", "claude-sonnet-4-5",
                           "claude-haiku-4-5", "claude-opus-4-5"}) {
      const auto& betas = documented_betas(id);
      all.insert(betas.begin(), betas.end());
    }
    return std::vector<std::string>(all.begin(), all.end());
  }();
  return kAll;
}

BetaPolicy::BetaPolicy(const std::vector<BetaRule>& rules, std::map<std::string, std::string> families)
    : families_(families.begin(), families.end()) {
  rules_.reserve(rules.size());
  for (const auto& r : rules) rules_.push_back({r.model, std::set<std::string>(r.betas.begin(), r.betas.end())});
}

std::string_view BetaPolicy::family_of(std::string_view model_id) const {
  const auto it = families_.find(model_id);
  return it != families_.end() ? std::string_view(it->second) : model_id;
}

const std::set<std::string>& BetaPolicy::accepted(std::string_view model_as_sent, std::string_view family) const {
  for (const auto& rule : rules_) {
    if (aws::glob_match(rule.glob, model_as_sent)) return rule.betas;
  }
  return documented_betas(family);
}

std::vector<std::string> parse_beta_header(const std::vector<std::string_view>& values) {
  std::vector<std::string> out;
  for (std::string_view value : values) {
    while (!value.empty() && out.size() < kMaxBetas) {
      const auto comma = value.find(',');
      add_once(out, trim(value.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::vector<std::string> apply_betas(nlohmann::json& body, const std::vector<std::string>& requested,
                                     const std::set<std::string>& accepted) {
  std::vector<std::string> wanted;
  if (auto it = body.find("anthropic_beta"); it != body.end() && it->is_array()) {
    for (const auto& b : *it) {
      if (b.is_string()) add_once(wanted, b.get_ref<const std::string&>());
    }
  }
  for (const auto& b : requested) add_once(wanted, b);
  std::vector<std::string> kept, dropped;
  for (auto& b : wanted) (accepted.count(b) != 0 ? kept : dropped).push_back(std::move(b));
  if (kept.empty()) {
    body.erase("anthropic_beta");
  } else {
    body["anthropic_beta"] = kept;
  }
  return dropped;
}

std::optional<RefilteredBody> refilter_invoke_body(std::string_view body, const BetaPolicy& policy,
                                                   std::string_view model_id, int max_depth) {
  if (body.find("anthropic_beta") == std::string_view::npos) return std::nullopt;  // the common case: no parse
  nlohmann::json j = parse_json(body, max_depth);
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("anthropic_beta");
  if (it == j.end()) return std::nullopt;
  const std::set<std::string>& accepted = policy.accepted(model_id);
  if (it->is_array() && std::all_of(it->begin(), it->end(), [&](const nlohmann::json& b) {
        return b.is_string() && accepted.count(b.get_ref<const std::string&>()) != 0;
      })) {
    return std::nullopt;
  }
  RefilteredBody out;
  out.dropped = apply_betas(j, {}, accepted);
  out.body = dump_json(j);
  return out;
}

std::optional<RefilteredBody> refilter_count_tokens_body(std::string_view body, const BetaPolicy& policy,
                                                         std::string_view model_id, int max_depth) {
  nlohmann::json j = parse_json(body, max_depth);
  if (!j.is_object()) return std::nullopt;
  const nlohmann::json* inner = field(object_field(object_field(j, "input"), "invokeModel"), "body");
  if (inner == nullptr || !inner->is_string()) return std::nullopt;
  const auto decoded = base64_decode(inner->get_ref<const std::string&>());
  if (!decoded) return std::nullopt;
  auto again = refilter_invoke_body(*decoded, policy, model_id, max_depth);
  if (!again) return std::nullopt;
  j["input"]["invokeModel"]["body"] = base64_encode(again->body);
  again->body = dump_json(j);
  return again;
}

}  // namespace signgate::api::anthropic
