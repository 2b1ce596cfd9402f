#include "aws/model_pattern.h"

#include <vector>

#include "aws/model_id.h"

namespace signgate::aws {

namespace {

bool is_arn(std::string_view s) { return s.substr(0, 4) == "arn:"; }

// Every field of `pattern`, split on ':' (an ARN pattern of any length).
std::vector<std::string_view> colon_fields(std::string_view pattern) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto colon = pattern.find(':');
    out.push_back(pattern.substr(0, colon));
    if (colon == std::string_view::npos) return out;
    pattern.remove_prefix(colon + 1);
  }
}

// The literal part of a glob before its first wildcard.
std::string_view literal_prefix(std::string_view glob) { return glob.substr(0, glob.find_first_of("*?")); }

// Whether a glob can match some string that starts with `prefix`.
bool can_start_with(std::string_view glob, std::string_view prefix) {
  const std::string_view literal = literal_prefix(glob);
  if (literal.size() < glob.size()) {  // a wildcard follows the literal part
    return literal.substr(0, prefix.size()) == prefix.substr(0, literal.size());
  }
  return glob.substr(0, prefix.size()) == prefix;
}

// The partitions Bedrock runs in.
constexpr std::string_view kPartitions[] = {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"};

std::string join(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out.push_back(':');
    out += f;
  }
  return out;
}

std::string quoted(std::string_view s) {
  std::string out;  // not "'" + ... + "'": GCC 12's -Wrestrict misfires on that
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool model_pattern_match(std::string_view pattern, std::string_view model_id) {
  if (pattern == "*") return true;
  const bool arn_pattern = is_arn(pattern);
  if (arn_pattern != is_arn(model_id)) return false;
  if (!arn_pattern) return glob_match(pattern, model_id);
  const auto p = arn_fields(pattern);
  const auto m = arn_fields(model_id);
  if (!p || !m) return false;
  for (std::size_t i = 0; i < p->size(); ++i) {
    if (!glob_match((*p)[i], (*m)[i])) return false;
  }
  return true;
}

std::optional<PatternProblem> model_pattern_problem(std::string_view pattern) {
  if (pattern.empty()) return PatternProblem{"is empty (a model ID, a glob like anthropic.claude-*, or \"*\")", ""};
  for (char ch : pattern) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    std::string_view("._-:/*?").find(ch) != std::string_view::npos;
    if (!ok) {
      return PatternProblem{
          quoted(pattern) + " holds '" + std::string(1, ch) + "', which no model ID contains (globs know only * and ?)",
          ""};
    }
  }
  if (!is_arn(pattern)) {
    if (pattern.find('/') == std::string_view::npos) return std::nullopt;
    return PatternProblem{quoted(pattern) + " holds a '/', which only ARNs do: it can never match",
                          std::string("arn:aws:bedrock:*:*:").append(pattern)};
  }
  std::vector<std::string> fields;
  for (auto f : colon_fields(pattern)) fields.emplace_back(f);
  if (fields.size() < 6) {
    // What was given, in its place: a last field with a '/' is the resource, the rest from the front.
    std::vector<std::string> meant = {"arn", "aws", "bedrock", "*", "*", "*"};
    const bool resource_last = fields.back().find('/') != std::string::npos;
    const std::size_t front = resource_last ? fields.size() - 1 : fields.size();
    for (std::size_t i = 1; i < front; ++i) {
      if (!fields[i].empty()) meant[i] = fields[i];
    }
    if (resource_last) meant[5] = fields.back();
    return PatternProblem{quoted(pattern) + " has " + std::to_string(fields.size()) +
                              " of an ARN's six ':'-separated fields (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE), "
                              "so it matches nothing",
                          join(meant)};
  }
  const std::string_view partition = fields[1], service = fields[2], region = fields[3], account = fields[4];
  const std::string resource = join(std::vector<std::string>(fields.begin() + 5, fields.end()));
  std::vector<std::string> meant = {"arn", fields[1], fields[2], fields[3], fields[4], resource};
  bool any_partition = false;
  for (auto p : kPartitions) any_partition = any_partition || glob_match(partition, p);
  if (!any_partition) {
    meant[1] = "aws";
    return PatternProblem{quoted(pattern) + ": partition " + quoted(partition) +
                              " is none of Bedrock's (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b)",
                          join(meant)};
  }
  if (!glob_match(service, "bedrock")) {
    meant[2] = "bedrock";
    return PatternProblem{
        quoted(pattern) + ": service " + quoted(service) + " is not bedrock, so no Bedrock model ARN matches",
        join(meant)};
  }
  if (region.empty()) {
    meant[3] = "*";
    return PatternProblem{quoted(pattern) + ": the region is empty, and every Bedrock model ARN names one",
                          join(meant)};
  }
  if (resource.empty()) {
    meant[5] = "*";
    return PatternProblem{quoted(pattern) + ": the resource is empty", join(meant)};
  }
  if (account.empty() && !can_start_with(resource, "foundation-model/")) {
    meant[4] = "*";
    return PatternProblem{quoted(pattern) + ": the account is empty, which only foundation-model ARNs have",
                          join(meant)};
  }
  return std::nullopt;
}

}  // namespace signgate::aws
