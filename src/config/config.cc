#include "config/config.h"

#include "aws/bedrock_operation.h"
#include "aws/model_pattern.h"
#include "aws/sts.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "common/files.h"
#include "http/url.h"

namespace signgate::config {
namespace {

class Problems {
 public:
  explicit Problems(std::string source) : source_(std::move(source)) {}
  // The parsed document, so each problem can name its line ("FILE:LINE: KEY: reason").
  void set_root(const YAML::Node& root) { root_.reset(root); }
  void add(const std::string& key, const std::string& reason) {
    if (!text_.empty()) text_ += '\n';
    const int line = line_of(key);
    text_ += source_ + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + key + ": " + reason;
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  // The line of the deepest node `key` ("clients[1].aws.role_arn") reaches; 0 when none.
  int line_of(const std::string& key) const {
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

  std::string source_;
  std::string text_;
  YAML::Node root_;
};

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

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080" → host (an IP literal) and port.
bool parse_listen(const std::string& text, std::string& host_out, std::uint16_t& port_out) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size() || text.size() - colon - 1 > 5) return false;
  unsigned port = 0;
  for (char ch : text.substr(colon + 1)) {
    if (ch < '0' || ch > '9') return false;
    port = port * 10 + static_cast<unsigned>(ch - '0');
  }
  if (port > 65535) return false;
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  unsigned char address[16];
  if (inet_pton(AF_INET, host.c_str(), address) != 1 && inet_pton(AF_INET6, host.c_str(), address) != 1) return false;
  host_out = host;
  port_out = static_cast<std::uint16_t>(port);
  return true;
}

// Whether two listeners on the same port would collide: the same address in any spelling,
// or either one the wildcard (0.0.0.0, ::), which takes the port on every address.
bool same_or_wildcard(const std::string& a, const std::string& b) {
  const auto bytes = [](const std::string& host) {
    unsigned char v6[16] = {};
    if (inet_pton(AF_INET6, host.c_str(), v6) == 1) return std::string(reinterpret_cast<char*>(v6), 16);
    unsigned char v4[4] = {};
    inet_pton(AF_INET, host.c_str(), v4);
    return std::string(reinterpret_cast<char*>(v4), 4);
  };
  const std::string x = bytes(a), y = bytes(b);
  const auto wildcard = [](const std::string& addr) { return addr.find_first_not_of('\0') == std::string::npos; };
  return x == y || wildcard(x) || wildcard(y);
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

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
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

}  // namespace

std::string AwsConfig::sts_url() const {
  return sts_endpoint.empty() ? "https://sts." + region + ".amazonaws.com/" : sts_endpoint;
}

bool valid_guardrail_id(std::string_view id) {
  // botocore: (([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))
  const auto plain = [](std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    });
  };
  if (id.rfind("arn:", 0) != 0) return plain(id);
  const auto slash = id.find(":guardrail/");
  if (slash == std::string_view::npos || !plain(id.substr(slash + 11))) return false;
  // arn:PARTITION:bedrock:REGION:ACCOUNT
  std::string_view head = id.substr(0, slash);
  std::string_view fields[5];
  for (auto& f : fields) {
    const auto colon = head.find(':');
    f = head.substr(0, colon);
    head = colon == std::string_view::npos ? std::string_view() : head.substr(colon + 1);
  }
  const auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  return head.empty() && fields[1].rfind("aws", 0) == 0 && fields[2] == "bedrock" && !fields[3].empty() &&
         fields[3].size() <= 20 && fields[4].size() == 12 && digits(fields[4]);
}

bool valid_guardrail_version(std::string_view v) {
  if (v == "DRAFT") return true;
  return !v.empty() && v.size() <= 8 && v[0] != '0' &&
         std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

std::string AwsConfig::bedrock_control_url() const {
  return bedrock_control_endpoint.empty() ? "https://bedrock." + region + ".amazonaws.com" : bedrock_control_endpoint;
}

std::string AwsConfig::bedrock_url() const {
  return bedrock_endpoint.empty() ? "https://bedrock-runtime." + region + ".amazonaws.com" : bedrock_endpoint;
}

namespace {
Result<Config> parse_root(const std::string& text, const std::string& source, const Environment& env);
}

Result<Config> parse_config(const std::string& text, const std::string& source, const Environment& env) {
  try {
    return parse_root(text, source, env);
  } catch (const YAML::Exception& e) {
    return make_error(source + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

namespace {
Result<Config> parse_root(const std::string& text, const std::string& source, const Environment& env) {
  Problems p(source);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(source + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) return make_error(source + ": the file must be a YAML mapping (listen:, aws:, clients:, ...)");
  p.set_root(root);
  Reader r(env, p);
  Config c;
  c.source = source;
  r.only(root, "",
         {"listen", "ops_listen", "aws", "clients", "models", "audit", "tls", "limits", "upstream", "anthropic",
          "discovery", "responses", "redis"});
  c.discovery = r.boolean(root, "", "discovery").value_or(false);

  if (auto v = r.str(root, "", "listen")) c.listen = *v;
  const bool listen_ok = parse_listen(c.listen, c.listen_host, c.listen_port);
  if (!listen_ok) p.add("listen", "must be IP:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), not '" + c.listen + "'");
  c.ops_listen = r.str(root, "", "ops_listen");
  if (c.ops_listen && !parse_listen(*c.ops_listen, c.ops_listen_host, c.ops_listen_port)) {
    p.add("ops_listen", "must be IP:PORT (e.g. 127.0.0.1:9090 or [::1]:9090), not '" + *c.ops_listen + "'");
  } else if (c.ops_listen && listen_ok && c.ops_listen_port != 0 && c.ops_listen_port == c.listen_port &&
             same_or_wildcard(c.ops_listen_host, c.listen_host)) {
    p.add("ops_listen", "'" + *c.ops_listen + "' takes the same port as listen '" + c.listen +
                            "'; give the operations endpoints a port of their own");
  }

  const YAML::Node a = root["aws"];
  if (!a) {
    p.add("aws", "is required (at least aws.region)");
  } else {
    r.only(a, "aws",
           {"region", "role_arn", "external_id", "session_name", "duration_seconds", "refresh_before_expiry_seconds",
            "sts_endpoint", "bedrock_endpoint", "bedrock_control_endpoint", "source_identity", "policy", "tags"});
    if (auto v = r.str(a, "aws", "region")) c.aws.region = *v;
    if (c.aws.region.empty()) {
      p.add("aws.region", "is required, e.g. us-east-1");
    } else if (!valid_region(c.aws.region)) {
      p.add("aws.region", "must be an AWS region like us-east-1 or eu-central-2, not '" + c.aws.region + "'");
    }
    read_role(r, a, "aws", c.aws.role);
    if (auto v = r.integer(a, "aws", "refresh_before_expiry_seconds", 0, 3600)) {
      c.aws.refresh_before_expiry = std::chrono::seconds(*v);
    }
    const auto sts = r.str(a, "aws", "sts_endpoint");
    r.url(sts, "aws.sts_endpoint");
    c.aws.sts_endpoint = sts.value_or("");
    const auto bedrock = r.str(a, "aws", "bedrock_endpoint");
    r.url(bedrock, "aws.bedrock_endpoint");
    c.aws.bedrock_endpoint = bedrock.value_or("");
    const auto control = r.str(a, "aws", "bedrock_control_endpoint");
    r.url(control, "aws.bedrock_control_endpoint");
    c.aws.bedrock_control_endpoint = control.value_or("");
  }

  if (const YAML::Node clients = root["clients"]; clients && !clients.IsNull()) {
    if (!clients.IsSequence()) p.add("clients", "must be a list");
    std::set<std::string> names, secrets;
    for (std::size_t i = 0; clients.IsSequence() && i < clients.size(); ++i) {
      const std::string w = "clients[" + std::to_string(i) + "]";
      const YAML::Node n = clients[i];
      r.only(
          n, w,
          {"name", "secret_sha256", "models", "operations", "expires_at", "aws", "rate_limit", "budget", "guardrail"});
      if (!n.IsMap()) continue;
      ClientConfig cl;
      cl.name = r.str(n, w, "name").value_or("");
      if (cl.name.empty()) p.add(w + ".name", "is required");
      // The name goes into logs, metrics labels and the fleet's Redis keys.
      if (std::any_of(cl.name.begin(), cl.name.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
        p.add(w + ".name", "may not contain control characters");
      }
      if (!names.insert(cl.name).second) p.add(w + ".name", "'" + cl.name + "' is used by another client");
      // One hash, or a list of them: a client holds two secrets while its key is rotated.
      if (const YAML::Node h = n["secret_sha256"]; h && h.IsSequence()) {
        cl.secret_sha256 = r.list(n, w, "secret_sha256");
        if (cl.secret_sha256.empty()) p.add(w + ".secret_sha256", "must name at least one hash");
        if (cl.secret_sha256.size() > 8) p.add(w + ".secret_sha256", "may hold at most 8 hashes");
      } else {
        cl.secret_sha256 = {r.str(n, w, "secret_sha256").value_or("")};
      }
      for (const auto& hash : cl.secret_sha256) {
        if (!is_hex64(hash)) {
          p.add(w + ".secret_sha256", "must be 64 lower-case hex digits (signgate keys new prints it)");
        } else if (!secrets.insert(hash).second) {
          p.add(w + ".secret_sha256", "is the same as another client's (or repeated)");
        }
      }
      cl.models = r.list(n, w, "models");
      if (cl.models.empty()) p.add(w + ".models", "is required: the model IDs or globs this client may call");
      for (std::size_t m = 0; m < cl.models.size(); ++m) {
        if (auto bad = model_pattern_problem(cl.models[m])) p.add(w + ".models[" + std::to_string(m) + "]", *bad);
      }
      cl.operations = r.list(n, w, "operations");
      for (const auto& op : cl.operations) {
        if (!aws::operation_from_name(op)) {
          std::string why = "unknown operation '" + op + "' (";
          for (const auto o : aws::kAllOperations) {
            if (o != aws::kAllOperations[0]) why += ", ";
            why += aws::operation_name(o);
          }
          why += ")";
          p.add(w + ".operations", why);
        }
      }
      if (auto v = r.str(n, w, "expires_at")) {
        cl.expires_at = parse_iso8601(*v);
        if (!cl.expires_at) p.add(w + ".expires_at", "must be a time like 2027-01-01T00:00:00Z, not '" + *v + "'");
      }
      if (const YAML::Node o = n["aws"]; o && !o.IsNull()) {
        r.only(o, w + ".aws",
               {"role_arn", "external_id", "session_name", "duration_seconds", "source_identity", "policy", "tags"});
        aws::RoleSettings role = c.aws.role;
        role.tags.clear();
        read_role(r, o, w + ".aws", role);
        cl.aws = role;
      }
      if (const YAML::Node g = n["guardrail"]; g && !g.IsNull()) {
        const std::string gw = w + ".guardrail";
        r.only(g, gw, {"id", "version"});
        GuardrailConfig guardrail{r.str(g, gw, "id").value_or(""), r.str(g, gw, "version").value_or("")};
        if (!valid_guardrail_id(guardrail.id)) {
          p.add(gw + ".id",
                "must be a guardrail ID (lower-case letters and digits) or its ARN, not '" + guardrail.id + "'");
        }
        if (!valid_guardrail_version(guardrail.version)) {
          p.add(gw + ".version",
                "must be DRAFT or a version number, not '" + guardrail.version + "' (quote it: \"1\")");
        }
        cl.guardrail = std::move(guardrail);
      }
      if (const YAML::Node rl = n["rate_limit"]; rl && !rl.IsNull()) {
        r.only(rl, w + ".rate_limit", {"requests_per_minute", "tokens_per_minute"});
        cl.requests_per_minute = r.integer(rl, w + ".rate_limit", "requests_per_minute", 1, 10'000'000);
        cl.tokens_per_minute = r.integer(rl, w + ".rate_limit", "tokens_per_minute", 1, 1'000'000'000'000);
      }
      if (const YAML::Node bu = n["budget"]; bu && !bu.IsNull()) {
        r.only(bu, w + ".budget", {"tokens_per_day"});
        cl.tokens_per_day = r.integer(bu, w + ".budget", "tokens_per_day", 1, 1'000'000'000'000'000);
      }
      c.clients.push_back(std::move(cl));
    }
  }

  if (const YAML::Node m = root["models"]; m && !m.IsNull()) {
    if (!m.IsMap()) {
      p.add("models", "must map aliases to model IDs");
    } else {
      for (const auto& kv : m) {
        const std::string alias = kv.first.as<std::string>();
        if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
          p.add("models." + alias, "must be a model ID");
          continue;
        }
        c.models[alias] = expand(kv.second.Scalar(), env, "models." + alias, p);
      }
    }
  }

  if (const YAML::Node au = root["audit"]; au && !au.IsNull()) {
    r.only(au, "audit", {"path"});
    c.audit_path = r.str(au, "audit", "path").value_or("");
  }
  if (const YAML::Node t = root["tls"]; t && !t.IsNull()) {
    r.only(t, "tls", {"cert", "key"});
    c.tls_cert = r.str(t, "tls", "cert").value_or("");
    c.tls_key = r.str(t, "tls", "key").value_or("");
    if (c.tls_cert.empty() != c.tls_key.empty()) p.add("tls", "needs both cert and key");
  }
  if (const YAML::Node l = root["limits"]; l && !l.IsNull()) {
    r.only(l, "limits",
           {"max_body_bytes", "max_connections", "max_json_depth", "max_header_bytes", "abandoned_stream_bytes",
            "abandoned_stream_seconds"});
    if (auto v = r.integer(l, "limits", "max_body_bytes", 1024, 1LL << 30))
      c.max_body_bytes = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer(l, "limits", "max_connections", 1, 1'000'000))
      c.max_connections = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer(l, "limits", "max_json_depth", 8, 10'000)) c.max_json_depth = static_cast<int>(*v);
    if (auto v = r.integer(l, "limits", "max_header_bytes", 1024, 1 << 20))
      c.max_header_bytes = static_cast<std::size_t>(*v);
    if (auto v = r.integer(l, "limits", "abandoned_stream_bytes", 0, 1LL << 30))
      c.abandoned_stream_bytes = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer(l, "limits", "abandoned_stream_seconds", 0, 3600))
      c.abandoned_stream_seconds = std::chrono::seconds(*v);
  }
  if (const YAML::Node u = root["upstream"]; u && !u.IsNull()) {
    r.only(u, "upstream", {"max_retries", "ca_file", "connect_timeout_ms", "first_byte_timeout_ms", "idle_timeout_ms"});
    if (auto v = r.integer(u, "upstream", "max_retries", 0, 10)) c.upstream.max_retries = static_cast<int>(*v);
    c.upstream.ca_file = r.str(u, "upstream", "ca_file").value_or("");
    if (auto v = r.integer(u, "upstream", "connect_timeout_ms", 1, 600'000))
      c.upstream.connect_timeout = std::chrono::milliseconds(*v);
    if (auto v = r.integer(u, "upstream", "first_byte_timeout_ms", 1, 3'600'000))
      c.upstream.first_byte_timeout = std::chrono::milliseconds(*v);
    if (auto v = r.integer(u, "upstream", "idle_timeout_ms", 1, 3'600'000))
      c.upstream.idle_timeout = std::chrono::milliseconds(*v);
  }
  if (const YAML::Node an = root["anthropic"]; an && !an.IsNull()) {
    r.only(an, "anthropic", {"betas"});
    if (an["betas"]) {
      c.anthropic_betas = r.list(an, "anthropic", "betas");
      for (const auto& b : *c.anthropic_betas) {
        if (b.empty() || b.size() > 128 || b.find_first_of(", \t\r\n") != std::string::npos) {
          p.add("anthropic.betas", "'" + b + "' is not a beta name (like interleaved-thinking-2025-05-14)");
        }
      }
    }
  }
  if (const YAML::Node rs = root["responses"]; rs && !rs.IsNull()) {
    r.only(rs, "responses", {"store", "ttl_seconds", "max_mib", "max_mib_per_client"});
    c.responses.store = r.boolean(rs, "responses", "store").value_or(true);
    if (auto v = r.integer(rs, "responses", "ttl_seconds", 1, 30 * 86400)) c.responses.ttl = std::chrono::seconds(*v);
    if (auto v = r.integer(rs, "responses", "max_mib", 1, 1 << 20)) c.responses.max_bytes = std::size_t(*v) << 20;
    if (auto v = r.integer(rs, "responses", "max_mib_per_client", 1, 1 << 20))
      c.responses.max_bytes_per_client = std::size_t(*v) << 20;
    c.responses.max_bytes_per_client = std::min(c.responses.max_bytes_per_client, c.responses.max_bytes);
  }
  if (const YAML::Node rd = root["redis"]; rd && !rd.IsNull()) {
    r.only(rd, "redis", {"url", "ca_file", "on_failure", "command_timeout_ms"});
    RedisConfig redis;
    redis.url = r.str(rd, "redis", "url").value_or("");
    if (redis.url.rfind("redis://", 0) != 0 && redis.url.rfind("rediss://", 0) != 0) {
      p.add("redis.url", "must be redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://... (TLS)");
    }
    redis.ca_file = r.str(rd, "redis", "ca_file").value_or("");
    const std::string on_failure = r.str(rd, "redis", "on_failure").value_or("local");
    if (on_failure != "local" && on_failure != "deny") {
      p.add("redis.on_failure",
            "must be local (each replica limits on its own) or deny (503), not '" + on_failure + "'");
    }
    redis.deny_on_failure = on_failure == "deny";
    if (auto v = r.integer(rd, "redis", "command_timeout_ms", 10, 10'000)) {
      redis.command_timeout = std::chrono::milliseconds(*v);
    }
    c.redis = std::move(redis);
  }
  if (!p.empty()) return make_error(p.text());
  return c;
}
}  // namespace

std::string describe_changes(const Config& before, const Config& after) {
  std::vector<std::string> added, removed, changed;
  const auto find = [](const Config& c, const std::string& name) -> const ClientConfig* {
    for (const auto& cl : c.clients) {
      if (cl.name == name) return &cl;
    }
    return nullptr;
  };
  for (const auto& cl : after.clients) {
    const ClientConfig* old = find(before, cl.name);
    if (old == nullptr) {
      added.push_back(cl.name);
      continue;
    }
    if (*old == cl) continue;
    std::vector<std::string> what;
    if (old->secret_sha256 != cl.secret_sha256) what.emplace_back("secret_sha256");
    if (old->models != cl.models) what.emplace_back("models");
    if (old->operations != cl.operations) what.emplace_back("operations");
    if (old->expires_at != cl.expires_at) what.emplace_back("expires_at");
    if (old->aws != cl.aws) what.emplace_back("aws");
    if (old->requests_per_minute != cl.requests_per_minute || old->tokens_per_minute != cl.tokens_per_minute) {
      what.emplace_back("rate_limit");
    }
    if (old->tokens_per_day != cl.tokens_per_day) what.emplace_back("budget");
    if (old->guardrail != cl.guardrail) what.emplace_back("guardrail");
    std::string line = cl.name + " (";
    for (std::size_t i = 0; i < what.size(); ++i) line += (i == 0 ? "" : ", ") + what[i];
    changed.push_back(line + ")");
  }
  for (const auto& cl : before.clients) {
    if (find(after, cl.name) == nullptr) removed.push_back(cl.name);
  }
  std::vector<std::string> sections;
  const auto section = [&](bool differs, const char* name) {
    if (differs) sections.emplace_back(name);
  };
  section(before.listen != after.listen, "listen");
  section(before.ops_listen != after.ops_listen, "ops_listen");
  section(before.aws != after.aws, "aws");
  section(before.models != after.models, "models");
  section(before.audit_path != after.audit_path, "audit");
  section(before.tls_cert != after.tls_cert || before.tls_key != after.tls_key, "tls");
  section(before.max_body_bytes != after.max_body_bytes || before.max_connections != after.max_connections ||
              before.max_json_depth != after.max_json_depth || before.max_header_bytes != after.max_header_bytes ||
              before.abandoned_stream_bytes != after.abandoned_stream_bytes ||
              before.abandoned_stream_seconds != after.abandoned_stream_seconds,
          "limits");
  section(before.upstream != after.upstream, "upstream");
  section(before.anthropic_betas != after.anthropic_betas, "anthropic");
  section(before.discovery != after.discovery, "discovery");
  section(before.responses != after.responses, "responses");
  section(before.redis != after.redis, "redis");

  std::string out;
  const auto list = [&](const char* label, const std::vector<std::string>& names) {
    if (names.empty()) return;
    out += out.empty() ? "clients " : "; ";
    out += label;
    for (std::size_t i = 0; i < names.size(); ++i) out += (i == 0 ? " " : ", ") + names[i];
  };
  list("added", added);
  list("removed", removed);
  list("changed", changed);
  if (!sections.empty()) {
    if (!out.empty()) out += "; ";
    for (std::size_t i = 0; i < sections.size(); ++i) out += (i == 0 ? "" : ", ") + sections[i];
    out += " changed";
  }
  return out.empty() ? "nothing changed" : out;
}

Result<Config> load_config(const std::string& path, const Environment& env) {
  const auto text = read_file(path);
  if (!text) return make_error(path + ": cannot be read (does the file exist and may signgate read it?)");
  return parse_config(*text, path, env);
}

}  // namespace signgate::config
