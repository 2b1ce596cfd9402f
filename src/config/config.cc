#include "config/config.h"

#include "aws/bedrock_operation.h"
#include "aws/model_pattern.h"
#include "aws/request_metadata.h"
#include "aws/sts.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/files.h"
#include "config/reader.h"
#include "http/url.h"

namespace signgate::config {
namespace {

using namespace detail;

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

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
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

std::string AwsConfig::mantle_url() const {
  return mantle_endpoint.empty() ? "https://bedrock-mantle." + region + ".api.aws" : mantle_endpoint;
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

// A budget in USD: more than 0, at most a billion.
std::optional<double> usd_budget(Reader& r, const YAML::Node& map, const std::string& where, const char* key) {
  auto s = r.str(map, where, key);
  if (!s) return std::nullopt;
  try {
    std::size_t used = 0;
    const double v = std::stod(*s, &used);
    if (used == s->size() && std::isfinite(v) && v > 0 && v <= 1e9) return v;
  } catch (const std::exception&) {}
  r.problems().add(Reader::join(where, key), "must be an amount of USD above 0, not '" + *s + "'");
  return std::nullopt;
}

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
          "discovery", "responses", "redis", "identities", "routes", "pricing"});
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
            "sts_endpoint", "bedrock_endpoint", "bedrock_control_endpoint", "mantle_endpoint", "source_identity",
            "policy", "tags"});
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
    const auto mantle = r.str(a, "aws", "mantle_endpoint");
    r.url(mantle, "aws.mantle_endpoint");
    c.aws.mantle_endpoint = mantle.value_or("");
    // Calls to Mantle are signed for aws.region: a Mantle host of another region would refuse them.
    if (const auto at = c.aws.mantle_endpoint.find("bedrock-mantle."); at != std::string::npos) {
      const auto end = c.aws.mantle_endpoint.find(".api.aws", at);
      if (end != std::string::npos && c.aws.mantle_endpoint.substr(at + 15, end - at - 15) != c.aws.region) {
        p.add("aws.mantle_endpoint",
              "is Mantle in another region than aws.region (" + c.aws.region + "), which signgate signs its calls for");
      }
    }
  }

  if (const YAML::Node clients = root["clients"]; clients && !clients.IsNull()) {
    if (!clients.IsSequence()) p.add("clients", "must be a list");
    std::set<std::string> names, secrets;
    for (std::size_t i = 0; clients.IsSequence() && i < clients.size(); ++i) {
      const std::string w = "clients[" + std::to_string(i) + "]";
      const YAML::Node n = clients[i];
      r.only(n, w,
             {"name", "secret_sha256", "models", "operations", "expires_at", "aws", "rate_limit", "budget", "guardrail",
              "request_metadata"});
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
        r.only(bu, w + ".budget", {"tokens_per_day", "usd_per_day", "usd_per_month"});
        cl.tokens_per_day = r.integer(bu, w + ".budget", "tokens_per_day", 1, 1'000'000'000'000'000);
        cl.usd_per_day = usd_budget(r, bu, w + ".budget", "usd_per_day");
        cl.usd_per_month = usd_budget(r, bu, w + ".budget", "usd_per_month");
      }
      if (const YAML::Node md = n["request_metadata"]; md && !md.IsNull()) {
        const std::string mw = w + ".request_metadata";
        if (!md.IsMap()) {
          p.add(mw, "must map keys to values (Bedrock's request metadata)");
        } else {
          for (const auto& kv : md) {
            const std::string k = kv.first.as<std::string>();
            std::string kw = mw;
            kw += '.';
            kw += k;
            const std::string v = kv.second.IsScalar() ? expand(kv.second.Scalar(), env, kw, p) : "";
            if (!kv.second.IsScalar()) {
              p.add(kw, "must be a string");
            } else if (k == aws::kStampClientKey || k == aws::kStampRequestKey) {
              p.add(kw, "is signgate's own key, stamped on every call");
            } else if (!aws::valid_request_metadata_text(k, true)) {
              p.add(kw, "is not a key Bedrock takes (1-256 of letters, digits, spaces and :_@$#=/+,-.)");
            } else if (!aws::valid_request_metadata_text(v, false)) {
              p.add(kw, "is not a value Bedrock takes (at most 256 of letters, digits, spaces and :_@$#=/+,-.)");
            } else {
              cl.request_metadata.emplace(k, v);
            }
          }
          if (cl.request_metadata.size() + 2 > aws::kMaxRequestMetadataPairs) {
            p.add(mw, "may hold at most " + std::to_string(aws::kMaxRequestMetadataPairs - 2) +
                          " pairs (Bedrock takes 16, and signgate stamps two)");
          }
        }
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
        const std::string w = "models." + alias;
        if (kv.second.IsMap()) {  // {id, family}
          r.only(kv.second, w, {"id", "family", "api", "endpoint"});
          const std::string id = r.str(kv.second, w, "id").value_or("");
          if (id.empty()) {
            p.add(w + ".id", "must be a model ID");
            continue;
          }
          c.models[alias] = id;
          const auto api = r.str(kv.second, w, "api");
          const auto where = r.str(kv.second, w, "endpoint");
          if (api && *api != "openai" && *api != "bedrock") {
            p.add(w + ".api", "must be bedrock (Converse and InvokeModel) or openai (Bedrock's OpenAI-compatible API)");
          } else if (api == "openai") {
            if (where && *where != "mantle" && *where != "runtime") {
              p.add(w + ".endpoint", "must be mantle (bedrock-mantle) or runtime (bedrock-runtime's /openai/v1)");
            }
            const auto [it, added] = c.openai_models.emplace(id, where == "runtime");
            if (!added && it->second != (where == "runtime")) {
              p.add(w + ".endpoint", "'" + id + "' is given two endpoints");
            }
          } else if (where) {
            p.add(w + ".endpoint", "is for api: openai models");
          }
          if (auto family = r.str(kv.second, w, "family")) {
            if (family->empty() || family->size() > 128 ||
                family->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:") != std::string::npos) {
              p.add(w + ".family", "must be a model ID naming the family (like anthropic.claude-sonnet-4-5)");
            } else if (const auto [it, added] = c.model_families.emplace(id, *family);
                       !added && it->second != *family) {
              p.add(w + ".family", "'" + id + "' is given two families");
            }
          }
          continue;
        }
        if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
          p.add(w, "must be a model ID or {id, family}");
          continue;
        }
        c.models[alias] = expand(kv.second.Scalar(), env, w, p);
      }
    }
  }

  read_routes(r, root, c);
  read_price_entries(r, root["pricing"], "pricing", c.pricing, true);

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
            "abandoned_stream_seconds", "sticky_entries"});
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
    if (auto v = r.integer(l, "limits", "sticky_entries", 0, 10'000'000))
      c.sticky_entries = static_cast<std::size_t>(*v);
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
    const auto check = [&](const std::string& w, const std::vector<std::string>& betas) {
      for (const auto& b : betas) {
        if (b.empty() || b.size() > 128 || b.find_first_of(", \t\r\n") != std::string::npos) {
          p.add(w, "'" + b + "' is not a beta name (like interleaved-thinking-2025-05-14)");
        }
      }
    };
    if (const YAML::Node b = an["betas"]; b && b.IsMap()) {  // model glob → betas
      std::vector<BetaRule> rules;
      for (const auto& kv : b) {
        BetaRule rule;
        rule.model = kv.first.as<std::string>();
        const std::string w = "anthropic.betas." + rule.model;
        if (auto why = model_pattern_problem(rule.model)) p.add(w, *why);
        rule.betas = r.list(b, "anthropic.betas", rule.model.c_str());
        check(w, rule.betas);
        rules.push_back(std::move(rule));
      }
      c.anthropic_betas = std::move(rules);
    } else if (b) {
      c.anthropic_betas = std::vector<BetaRule>{{"*", r.list(an, "anthropic", "betas")}};
      check("anthropic.betas", c.anthropic_betas->front().betas);
    }
  }
  if (const YAML::Node rs = root["responses"]; rs && !rs.IsNull()) {
    r.only(rs, "responses", {"store", "ttl_seconds", "max_mib", "max_mib_per_client", "hosted_tools"});
    c.responses.store = r.boolean(rs, "responses", "store").value_or(true);
    if (auto v = r.str(rs, "responses", "hosted_tools")) {
      if (*v != "drop" && *v != "refuse") p.add("responses.hosted_tools", "must be drop or refuse, not '" + *v + "'");
      c.responses.refuse_hosted_tools = *v == "refuse";
    }
    if (auto v = r.integer(rs, "responses", "ttl_seconds", 1, 30 * 86400)) c.responses.ttl = std::chrono::seconds(*v);
    if (auto v = r.integer(rs, "responses", "max_mib", 1, 1 << 20)) c.responses.max_bytes = std::size_t(*v) << 20;
    if (auto v = r.integer(rs, "responses", "max_mib_per_client", 1, 1 << 20))
      c.responses.max_bytes_per_client = std::size_t(*v) << 20;
    c.responses.max_bytes_per_client = std::min(c.responses.max_bytes_per_client, c.responses.max_bytes);
  }
  if (const YAML::Node rd = root["redis"]; rd && !rd.IsNull()) {
    r.only(rd, "redis", {"url", "ca_file", "on_failure", "command_timeout_ms", "cluster"});
    RedisConfig redis;
    // One URL, or a list of seed nodes of a Redis Cluster.
    if (const YAML::Node u = rd["url"]; u && u.IsSequence()) {
      redis.urls = r.list(rd, "redis", "url");
      if (redis.urls.empty() || redis.urls.size() > 16) p.add("redis.url", "must list from 1 to 16 seed URLs");
    } else {
      redis.urls = {r.str(rd, "redis", "url").value_or("")};
    }
    for (const auto& url : redis.urls) {
      if (url.rfind("redis://", 0) != 0 && url.rfind("rediss://", 0) != 0) {
        p.add("redis.url", "must be redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://... (TLS)");
        break;
      }
    }
    if (const YAML::Node cl = rd["cluster"]; cl && !cl.IsNull()) {
      const std::string v = cl.IsScalar() ? cl.Scalar() : std::string();
      if (v == "auto") {
        redis.cluster = RedisConfig::Cluster::kAuto;
      } else if (v == "true") {
        redis.cluster = RedisConfig::Cluster::kOn;
      } else if (v == "false") {
        redis.cluster = RedisConfig::Cluster::kOff;
      } else {
        p.add("redis.cluster", "must be auto (found from the server), true or false, not '" + v + "'");
      }
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
    if (old->tokens_per_day != cl.tokens_per_day || old->usd_per_day != cl.usd_per_day ||
        old->usd_per_month != cl.usd_per_month) {
      what.emplace_back("budget");
    }
    if (old->request_metadata != cl.request_metadata) what.emplace_back("request_metadata");
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
  section(before.models != after.models || before.model_families != after.model_families ||
              before.openai_models != after.openai_models,
          "models");
  section(before.audit_path != after.audit_path, "audit");
  section(before.tls_cert != after.tls_cert || before.tls_key != after.tls_key, "tls");
  section(before.max_body_bytes != after.max_body_bytes || before.max_connections != after.max_connections ||
              before.max_json_depth != after.max_json_depth || before.max_header_bytes != after.max_header_bytes ||
              before.abandoned_stream_bytes != after.abandoned_stream_bytes ||
              before.abandoned_stream_seconds != after.abandoned_stream_seconds ||
              before.sticky_entries != after.sticky_entries,
          "limits");
  section(before.upstream != after.upstream, "upstream");
  section(before.anthropic_betas != after.anthropic_betas, "anthropic");
  section(before.discovery != after.discovery, "discovery");
  section(before.responses != after.responses, "responses");
  section(before.redis != after.redis, "redis");
  section(before.identities != after.identities, "identities");
  section(before.routes != after.routes, "routes");
  section(before.pricing != after.pricing, "pricing");

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
