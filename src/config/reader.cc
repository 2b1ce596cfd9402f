#include "config/reader.h"

#include <algorithm>
#include <cstdlib>

#include "aws/model_pattern.h"
#include "aws/sts.h"

namespace signgate::config::detail {

void Problems::add(const std::string& key, const std::string& reason) {
  if (!text_.empty()) text_ += '\n';
  text_ += source_;
  if (const int line = line_of(key); line > 0) {
    text_ += ':';
    text_ += std::to_string(line);
  }
  text_ += ": ";
  text_ += key;
  text_ += ": ";
  text_ += reason;
}

int Problems::line_of(const std::string& key) const {
  if (!root_ || !root_.IsMap()) return 0;
  // reset(), never '=': assigning a yaml-cpp node writes into the document.
  YAML::Node node;
  node.reset(root_);
  int line = 0;
  std::size_t i = 0;
  while (i < key.size()) {
    YAML::Node next;
    if (key[i] == '[') {
      const auto close = key.find(']', i);
      if (close == std::string::npos || !node.IsSequence()) break;
      const std::size_t index = std::strtoul(key.c_str() + i + 1, nullptr, 10);
      if (index >= node.size()) break;
      next.reset(node[index]);
      i = close + 1;
    } else {
      if (key[i] == '.') ++i;
      const auto end = key.find_first_of(".[", i);
      const std::string name = key.substr(i, end == std::string::npos ? std::string::npos : end - i);
      if (!node.IsMap()) break;
      for (const auto& kv : node) {
        if (kv.first.IsScalar() && kv.first.Scalar() == name) next.reset(kv.second.IsNull() ? kv.first : kv.second);
      }
      if (!next) break;
      i = end == std::string::npos ? key.size() : end;
    }
    node.reset(next);
    if (node.Mark().line >= 0) line = node.Mark().line + 1;
  }
  return line;
}

namespace {

bool variable_char(char ch, bool first) {
  return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (!first && ch >= '0' && ch <= '9');
}

bool variable_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!variable_char(name[i], i == 0)) return false;
  }
  return !name.empty();
}

std::string unset_variable(const std::string& name) {
  return "environment variable " + name + " is not set (or give a default: ${" + name + ":-VALUE})";
}

std::string bare_variable(const std::string& name) {
  return "'$" + name + "' is not expanded: write ${" + name + "} (or $$ for a literal $)";
}

}  // namespace

// Expands ${VAR} and ${VAR:-default} (the default when VAR is unset or empty); "$$" is one
// '$'. An unset variable without a default is a problem (a silently empty External ID is
// worse), and so is a bare $VAR, which a shell would have expanded but YAML keeps as text.
std::string expand(const std::string& in, const Environment& env, const std::string& key, Problems& p) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$') {
      out.push_back(in[i]);
    } else if (i + 1 < in.size() && in[i + 1] == '$') {
      out.push_back('$');
      ++i;
    } else if (i + 1 < in.size() && in[i + 1] == '{') {
      const auto close = in.find('}', i + 2);
      if (close == std::string::npos) {
        p.add(key, "unterminated ${ in '" + in + "' (write ${NAME}, ${NAME:-default}, or $$ for a literal $)");
        return out;
      }
      const std::string inner = in.substr(i + 2, close - i - 2);
      const auto dash = inner.find(":-");
      const std::string name = inner.substr(0, dash);
      const auto value = variable_name(name) ? env(name) : std::nullopt;
      if (!variable_name(name)) {
        p.add(key, "'${" + inner + "}' is not a variable reference (write ${NAME} or ${NAME:-default})");
      } else if (dash != std::string::npos && inner.find_first_of("${", dash + 2) != std::string::npos) {
        p.add(key, "the default in '${" + inner + "}' may not hold '$' or '{' (defaults are plain text)");
      } else if (value && !(value->empty() && dash != std::string::npos)) {
        out += *value;
      } else if (dash != std::string::npos) {
        out += inner.substr(dash + 2);
      } else {
        p.add(key, unset_variable(name));
      }
      i = close;
    } else if (i + 1 < in.size() && variable_char(in[i + 1], true)) {
      std::size_t end = i + 1;
      while (end < in.size() && variable_char(in[end], false)) ++end;
      const std::string name = in.substr(i + 1, end - i - 1);
      p.add(key, bare_variable(name));
      out.push_back('$');
    } else {
      out.push_back('$');
    }
  }
  return out;
}

// An AWS region name: PARTITION-AREA-N with optional qualifiers (us-east-1, us-gov-west-1,
// ap-southeast-5, eu-isoe-west-1); "us-east1" or "US-EAST-1" are typos AWS would not resolve.
bool valid_region(const std::string& region) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dash = region.find('-', start);
    parts.push_back(region.substr(start, dash == std::string::npos ? std::string::npos : dash - start));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  // The first part is a geography of 2 letters, or 4 for the European Sovereign Cloud (eusc-).
  if (parts.size() < 3 || parts.size() > 4 || parts.front().size() < 2 || parts.front().size() > 4) return false;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty() ||
        !std::all_of(parts[i].begin(), parts[i].end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }))
      return false;
  }
  const std::string& n = parts.back();
  return !n.empty() && n.size() <= 2 && std::all_of(n.begin(), n.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// What clients[].models (and every section that names models by pattern) refuses: a pattern
// that can never match, with the one it probably meant.
std::optional<std::string> model_pattern_problem(const std::string& pattern) {
  auto problem = aws::model_pattern_problem(pattern);
  if (!problem) return std::nullopt;
  if (problem->suggestion.empty()) return problem->reason;
  return problem->reason + "; did you mean '" + problem->suggestion + "'?";
}

// Role keys shared by aws: and a client's aws: override.
void read_role(Reader& r, const YAML::Node& node, const std::string& where, aws::RoleSettings& role) {
  if (auto v = r.str(node, where, "role_arn")) {
    role.role_arn = *v;
    if (v->rfind("arn:aws", 0) != 0 || v->find(":role/") == std::string::npos) {
      r.problems().add(where + ".role_arn",
                       "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), not '" + *v + "'");
    }
  }
  if (auto v = r.str(node, where, "external_id")) {
    role.external_id = *v;
    // STS's own pattern, checked here: STS would refuse it with an error quoting the value.
    const bool chars_ok = std::all_of(v->begin(), v->end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             std::string_view("_+=,.@:/-").find(ch) != std::string_view::npos;
    });
    if (v->size() < 2 || v->size() > 1224 || !chars_ok) {
      r.problems().add(where + ".external_id", "must be 2 to 1224 of the characters [A-Za-z0-9_+=,.@:/-]");
    }
  }
  if (auto v = r.str(node, where, "session_name")) {
    role.session_name = *v;
    if (aws::sanitize_session_name(*v) != *v) {
      r.problems().add(where + ".session_name", "must be 2 to 64 of the characters [A-Za-z0-9_+=,.@-]");
    }
  }
  if (auto v = r.integer(node, where, "duration_seconds", 900, 43200)) role.duration_seconds = static_cast<int>(*v);
  if (auto v = r.str(node, where, "source_identity")) role.source_identity = *v;
  if (auto v = r.str(node, where, "policy")) role.policy = *v;
  if (const YAML::Node tags = node["tags"]; tags && !tags.IsNull()) {
    if (!tags.IsMap()) {
      r.problems().add(where + ".tags", "must be a mapping of tag keys to values");
    } else {
      for (const auto& kv : tags) role.tags.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
    }
  }
  if (!role.external_id.empty() && role.role_arn.empty()) {
    r.problems().add(where + ".external_id", "is set but role_arn is not (an External ID only applies to AssumeRole)");
  }
}

}  // namespace signgate::config::detail
