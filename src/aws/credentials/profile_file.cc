#include "aws/credentials/profile_file.h"

#include "common/strings.h"

namespace signgate::aws {
namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

}  // namespace

IniFile parse_ini(std::string_view text) {
  IniFile out;
  ProfileSection* section = nullptr;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const bool indented = !raw.empty() && (raw.front() == ' ' || raw.front() == '\t');
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      const auto close = line.find(']');
      section = close == std::string_view::npos ? nullptr : &out[std::string(trim(line.substr(1, close - 1)))];
      continue;
    }
    if (section == nullptr || indented) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view value = trim(line.substr(eq + 1));
    // "key = value # comment": AWS CLI only strips comments preceded by white space.
    if (const auto hash = value.find(" #"); hash != std::string_view::npos) value = trim(value.substr(0, hash));
    if (const auto semi = value.find(" ;"); semi != std::string_view::npos) value = trim(value.substr(0, semi));
    (*section)[to_lower(trim(line.substr(0, eq)))] = std::string(value);
  }
  return out;
}

ProfileFiles::ProfileFiles(std::string_view config_text, std::string_view credentials_text)
    : config_(parse_ini(config_text)), credentials_(parse_ini(credentials_text)) {}

std::optional<ProfileSection> ProfileFiles::profile(const std::string& name) const {
  std::optional<ProfileSection> out;
  const auto from_config = config_.find(name == "default" ? name : "profile " + name);
  if (from_config != config_.end()) out = from_config->second;
  if (name == "default" && !out) {
    if (const auto alt = config_.find("profile default"); alt != config_.end()) out = alt->second;
  }
  if (const auto from_creds = credentials_.find(name); from_creds != credentials_.end()) {
    if (!out) out.emplace();
    for (const auto& [k, v] : from_creds->second) (*out)[k] = v;
  }
  return out;
}

}  // namespace signgate::aws
