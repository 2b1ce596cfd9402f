// The config parser's tools, shared by the files that read one section each (config.cc,
// routes.cc): problems named by file, line and key, and typed reads with ${VAR} expansion.
// Private to src/config.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "aws/role.h"
#include "common/env.h"
#include "config/pricing.h"
#include "http/url.h"

namespace signgate::config {
struct Config;
}

namespace signgate::config::detail {

class Problems {
 public:
  explicit Problems(std::string source) : source_(std::move(source)) {}
  // The parsed document, so each problem can name its line ("FILE:LINE: KEY: reason").
  void set_root(const YAML::Node& root) { root_.reset(root); }
  void add(const std::string& key, const std::string& reason);
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  // The line of the deepest node `key` ("clients[1].aws.role_arn") reaches; 0 when none.
  int line_of(const std::string& key) const;

  std::string source_;
  std::string text_;
  YAML::Node root_;
};

// Expands ${VAR} and ${VAR:-default} in `in` (the value of `key`); problems go to `p`.
std::string expand(const std::string& in, const Environment& env, const std::string& key, Problems& p);

class Reader {
 public:
  Reader(const Environment& env, Problems& p) : env_(env), p_(p) {}

  // Flags keys that are not in `known`: a typo must not silently drop a setting.
  void only(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> known) {
    if (!map.IsMap()) {
      p_.add(where, "must be a mapping");
      return;
    }
    for (const auto& kv : map) {
      const std::string k = kv.first.as<std::string>();
      bool found = false;
      for (const char* n : known) found = found || k == n;
      if (!found) p_.add(join(where, k), "unknown key");
    }
  }

  std::optional<std::string> str(const YAML::Node& map, const std::string& where, const char* key) {
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) return std::nullopt;
    if (!n.IsScalar()) {
      p_.add(join(where, key), "must be a string");
      return std::nullopt;
    }
    return expand(n.Scalar(), env_, join(where, key), p_);
  }

  std::optional<bool> boolean(const YAML::Node& map, const std::string& where, const char* key) {
    auto s = str(map, where, key);
    if (!s) return std::nullopt;
    if (*s == "true") return true;
    if (*s == "false") return false;
    p_.add(join(where, key), "must be true or false, not '" + *s + "'");
    return std::nullopt;
  }

  std::optional<long long> integer(const YAML::Node& map, const std::string& where, const char* key, long long min,
                                   long long max) {
    auto s = str(map, where, key);
    if (!s) return std::nullopt;
    try {
      std::size_t used = 0;
      const long long v = std::stoll(*s, &used);
      if (used == s->size() && v >= min && v <= max) return v;
    } catch (const std::exception&) {}
    p_.add(join(where, key),
           "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", not '" + *s + "'");
    return std::nullopt;
  }

  std::vector<std::string> list(const YAML::Node& map, const std::string& where, const char* key) {
    std::vector<std::string> out;
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) return out;
    if (!n.IsSequence()) {
      p_.add(join(where, key), "must be a list");
      return out;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string k = join(where, key) + "[" + std::to_string(i) + "]";
      if (!n[i].IsScalar()) {
        p_.add(k, "must be a string");
        continue;
      }
      out.push_back(expand(n[i].Scalar(), env_, k, p_));
    }
    return out;
  }

  void url(const std::optional<std::string>& value, const std::string& key) {
    if (!value) return;
    std::string error;
    const auto u = http::parse_url(*value, &error);
    if (!u) {
      p_.add(key, error);
    } else if (!u->is_tls() && !u->is_loopback()) {
      p_.add(key, "plain http is allowed only to loopback (local emulators); use https");
    }
  }

  static std::string join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }

  Problems& problems() { return p_; }

 private:
  const Environment& env_;
  Problems& p_;
};

// An AWS region name like us-east-1 (AWS would not resolve "us-east1" or "US-EAST-1").
bool valid_region(const std::string& region);

// What every section naming models by pattern refuses: a pattern that can never match, with
// the one it probably meant; nullopt when the pattern is fine.
std::optional<std::string> model_pattern_problem(const std::string& pattern);

// Role keys shared by aws:, a client's aws: override and identities:.
void read_role(Reader& r, const YAML::Node& node, const std::string& where, aws::RoleSettings& role);

// A map of model globs to prices (pricing.cc): a config's `pricing:`, or the shipped table's
// `models:` (where `input` is required).
void read_price_entries(Reader& r, const YAML::Node& node, const std::string& where, PriceEntries& out,
                        bool input_required);

// identities: and routes: (routes.cc), read once models: and aws: are.
void read_routes(Reader& r, const YAML::Node& root, Config& c);

}  // namespace signgate::config::detail
