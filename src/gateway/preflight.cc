#include "gateway/preflight.h"

#include <sys/stat.h>
#include <unistd.h>

#include "auth/clients.h"
#include "aws/iam_policy.h"
#include "aws/model_pattern.h"
#include "gateway/fleet.h"
#include "http/tls_files.h"
#include "store/redis.h"

namespace signgate::gateway {
namespace {

// Whether the audit log could be opened for appending by this user, as AuditLog::open will.
std::string audit_problem(const std::string& path) {
  if (path.empty() || path == "-") return {};
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return "audit.path: the directory " + dir + " does not exist (create it, writable by the user signgate runs as)";
  }
  if (!S_ISDIR(st.st_mode)) return "audit.path: " + dir + " is not a directory";
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return "audit.path: " + path + " is a directory; name a file in it";
    if (::access(path.c_str(), W_OK) != 0) return "audit.path: " + path + " is not writable by this user";
  } else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return "audit.path: signgate cannot create files in " + dir + " as this user";
  }
  return {};
}

std::string uncallable_alias(const std::string& alias, const std::string& model) {
  return "models." + alias + ": no client may call " + model + " (add it to a client's models, or drop the alias)";
}

}  // namespace

std::string serve_problems(const config::Config& cfg) {
  std::string out;
  const auto add = [&](const std::string& problem) {
    if (problem.empty()) return;
    if (!out.empty()) out += '\n';
    out += cfg.source + ": " + problem;
  };
  if (cfg.clients.empty()) {
    add("clients: none are configured, so no caller could use the gateway (signgate keys new --name NAME "
        "prints a client entry)");
  }
  add(audit_problem(cfg.audit_path));
  if (cfg.redis) {
    if (auto options = redis_options(*cfg.redis); !options) add(options.message());
    if (!cfg.redis->ca_file.empty() && ::access(cfg.redis->ca_file.c_str(), R_OK) != 0) {
      add("redis.ca_file: " + cfg.redis->ca_file + " cannot be read");
    }
  }
  if (!cfg.tls_cert.empty()) add(http::tls_files_problem(cfg.tls_cert, cfg.tls_key).value_or(""));
  for (const auto& [alias, model] : cfg.models) {
    bool callable = false;
    for (const auto& client : cfg.clients) {
      for (const auto& pattern : client.models) callable = callable || auth::model_pattern_match(pattern, model);
    }
    if (!callable && !cfg.clients.empty()) add(uncallable_alias(alias, model));
  }
  return out;
}

std::string serve_warnings(const config::Config& cfg) {
  std::string out;
  const auto add = [&](const std::string& warning) {
    if (!out.empty()) out += '\n';
    out += cfg.source + ": " + warning;
  };
  // What an entry stands for as a model ID: an alias's ID, else the glob itself.
  const auto as_id = [&](const std::string& entry) {
    const auto alias = cfg.models.find(entry);
    return alias != cfg.models.end() ? alias->second : entry;
  };
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const config::RouteConfig& route = cfg.routes[i];
    const std::string where = "routes[" + std::to_string(i) + "] (" + route.name + ")";
    bool reachable = cfg.clients.empty();
    for (const auto& client : cfg.clients) {
      for (const auto& allowed : client.models) {
        for (const auto& entry : route.match) reachable = reachable || aws::patterns_overlap(allowed, as_id(entry));
      }
    }
    if (!reachable) add(where + ": no client's models allow what it matches, so it serves no call");
    for (const auto& entry : route.match) {
      const std::string id = as_id(entry);
      if (cfg.openai_models.count(id) != 0) {
        std::string warning = where;
        warning += ": '";
        warning += entry;
        warning += "' is an api: openai model, which routes do not send (Bedrock's OpenAI API)";
        add(warning);
      }
    }
    // Shadowed: every entry is one an earlier route already takes (the same entry, or a name
    // without wildcards that an earlier glob matches).
    for (std::size_t j = 0; j < i; ++j) {
      const auto& earlier = cfg.routes[j].match;
      const bool covered =
          !route.match.empty() && std::all_of(route.match.begin(), route.match.end(), [&](const auto& e) {
            return std::any_of(earlier.begin(), earlier.end(), [&](const std::string& g) {
              return g == e ||
                     (e.find_first_of("*?") == std::string::npos && cfg.models.count(g) == 0 && aws::glob_match(g, e));
            });
          });
      if (covered) {
        add(where + ": routes[" + std::to_string(j) + "] (" + cfg.routes[j].name +
            ") matches everything it does and comes first, so it is never used");
        break;
      }
    }
  }
  return out;
}

}  // namespace signgate::gateway
