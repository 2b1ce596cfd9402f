#include "api/anthropic/betas.h"

#include <algorithm>

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

}  // namespace

const std::vector<std::string>& default_bedrock_betas() {
  // Bedrock's table of supported beta headers for Claude, and computer-use-2024-10-22 from its
  // Messages request example. Which ones a model takes varies; Bedrock refuses the rest.
  static const std::vector<std::string> kBetas = {
      "computer-use-2024-10-22",         "computer-use-2025-01-24",       "token-efficient-tools-2025-02-19",
      "interleaved-thinking-2025-05-14", "output-128k-2025-02-19",        "dev-full-thinking-2025-05-14",
      "context-1m-2025-08-07",           "context-management-2025-06-27", "effort-2025-11-24",
      "tool-search-tool-2025-10-19",     "tool-examples-2025-10-29",
  };
  return kBetas;
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

}  // namespace signgate::api::anthropic
