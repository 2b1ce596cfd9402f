#include "cli/doctor_command.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

#include "auth/clients.h"
#include "aws/credentials/cache.h"
#include "aws/sigv4.h"
#include "aws/uri.h"
#include "cli/sign_command.h"
#include "config/config.h"
#include "gateway/routes.h"
#include "http/fetch.h"

namespace signgate::cli {
namespace {

std::string minutes_until(SystemTime t) {
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(t - system_now()).count();
  if (left < 120) return std::to_string(left) + " s";
  return std::to_string(left / 60) + " min";
}

// What a failed Converse most likely means, with the fix.
std::string explain_bedrock(unsigned status, std::string_view error_type, const std::string& message,
                            const std::string& model, const std::string& region) {
  std::string line = "Bedrock answered " + std::to_string(status) +
                     (error_type.empty() ? std::string() : " " + std::string(error_type)) +
                     (message.empty() ? std::string() : ": " + message);
  if (error_type.rfind("AccessDeniedException", 0) == 0) {
    if (message.find("don't have access to the model") != std::string::npos) {
      line += " — enable access to " + model + " in the Bedrock console (Model access) for " + region;
    } else {
      line +=
          " — the role lacks bedrock:InvokeModel on this model; attach the permissions policy that "
          "`signgate iam-policy` prints (inference profiles need the profile and the model ARNs)";
    }
  } else if (error_type.rfind("ResourceNotFoundException", 0) == 0 || status == 404) {
    line += " — no model " + model + " in " + region + "; check the ID and the region";
  } else if (error_type.rfind("UnrecognizedClientException", 0) == 0) {
    line += " — the credentials are not valid in " + region + "; is the region enabled for the account?";
  } else if (error_type.rfind("ValidationException", 0) == 0 &&
             message.find("on-demand throughput") != std::string::npos) {
    line += " — call this model through an inference profile (e.g. us." + model + ")";
  } else if (error_type.rfind("ThrottlingException", 0) == 0 || status == 429) {
    line += " — throttled now (quotas are per account, region and model); a route fails over from it";
  } else if (error_type.rfind("ExpiredTokenException", 0) == 0) {
    line += " — the assumed credentials expired before use; check the machine's clock";
  }
  return line;
}

// Where one probe goes and how it is reported: `label` begins its lines ("bedrock     " or a
// target's name), `fix` says which settings to check when the endpoint cannot be reached.
struct Probe {
  http::Url base;
  std::string region;
  std::string model;
  std::string label;
  std::string error_prefix;  // "doctor: " plus what was probed
  std::string fix;
};

int converse_once(const Probe& probe, const aws::Credentials& creds, const http::ClientOptions& options,
                  std::ostream& out, std::ostream& err) {
  const http::Url* base = &probe.base;
  const std::string& model = probe.model;
  std::string prefix = base->path == "/" ? "" : base->path;
  aws::HttpRequest req{
      "POST",
      prefix + "/model/" + aws::uri_encode(model) + "/converse",
      {},
      {{"Host", base->host_header()}, {"Content-Type", "application/json"}, {"Accept", "application/json"}}};
  const std::string body =
      R"({"messages":[{"role":"user","content":[{"text":"Reply with OK."}]}],"inferenceConfig":{"maxTokens":5}})";
  aws::Signer signer;
  signer.sign(req, sha256_hex(body), creds, aws::SigningOptions::for_service(probe.region, "bedrock"));
  http::ResponseHead head;
  std::string answer;
  const auto started = std::chrono::steady_clock::now();
  const auto result = http::fetch(
      *base, req, body, [&](const http::ResponseHead& h) { head = h; },
      [&](std::string_view piece) {
        if (answer.size() < 64 * 1024) answer.append(piece);
      },
      options);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (!result.ok) {
    err << probe.error_prefix << "Bedrock at " << base->host_header() << " unreachable: " << result.error << " — check "
        << probe.fix << " and the egress (HTTPS_PROXY)\n";
    return kExitFailure;
  }
  if (head.status != 200) {
    const auto json = nlohmann::json::parse(answer, nullptr, false);
    std::string message;
    if (json.is_object()) {
      for (const char* key : {"message", "Message"}) {
        if (json.contains(key) && json[key].is_string()) message = json[key].get<std::string>();
      }
    }
    err << probe.error_prefix
        << explain_bedrock(head.status, head.header("x-amzn-ErrorType"), message, model, probe.region) << '\n';
    return kExitFailure;
  }
  out << probe.label << "Converse " << model << " answered 200 in " << ms.count() << " ms";
  if (auto in = head.header("X-Amzn-Bedrock-Input-Token-Count"); !in.empty()) {
    out << " (" << in << " input / " << head.header("X-Amzn-Bedrock-Output-Token-Count") << " output tokens)";
  }
  out << '\n';
  return kExitOk;
}

// A named identity some route signs with, assumed once as serve assumes it for a client.
struct NamedIdentity {
  const config::IdentityConfig* config;
  std::vector<std::string> routes;
  std::shared_ptr<aws::CredentialCache> cache;
  std::shared_ptr<const aws::Credentials> creds;  // null when it could not be assumed
};

std::vector<NamedIdentity> named_identities(const config::Config& cfg) {
  std::vector<NamedIdentity> out;
  for (const auto& rc : cfg.routes) {
    for (const auto& t : rc.targets) {
      if (t.identity == "default") continue;
      auto it =
          std::find_if(out.begin(), out.end(), [&](const NamedIdentity& n) { return n.config->name == t.identity; });
      if (it == out.end()) {
        const auto id = std::find_if(cfg.identities.begin(), cfg.identities.end(),
                                     [&](const config::IdentityConfig& c) { return c.name == t.identity; });
        if (id == cfg.identities.end()) continue;  // the parser refuses this
        it = out.insert(out.end(), NamedIdentity{&*id, {}, nullptr, nullptr});
      }
      if (std::find(it->routes.begin(), it->routes.end(), rc.name) == it->routes.end()) it->routes.push_back(rc.name);
    }
  }
  return out;
}

// serve signs for a named identity with a session per client (identity session name "-" client).
aws::RoleSettings named_role(const config::IdentityConfig& id, const auth::ClientTable& table) {
  aws::RoleSettings role = id.role;
  if (!table.clients().empty()) {
    std::string session = id.role.session_name;
    session += '-';
    session += table.clients().front().name;
    role.session_name = aws::sanitize_session_name(session);
  }
  role.sts_region = id.region;
  role.sts_endpoint = id.sts_endpoint;
  return role;
}

}  // namespace

int run_doctor(const DoctorArgs& args, const Environment& env, std::ostream& out, std::ostream& err) {
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    err << cfg.message() << '\n';
    return kExitUsage;
  }
  out << "config      " << cfg->source << ": valid (region " << cfg->aws.region << ", " << cfg->clients.size()
      << " client" << (cfg->clients.size() == 1 ? "" : "s") << ")\n";

  aws::CredentialSettings settings;
  settings.region = cfg->aws.region;
  settings.sts_endpoint = cfg->aws.sts_endpoint;
  settings.refresh_before = cfg->aws.refresh_before_expiry;
  settings.http.ca_file = cfg->upstream.ca_file;
  settings.http.connect_timeout = cfg->upstream.connect_timeout;
  auto proxy = http::ProxySettings::from_environment(env);
  if (!proxy) {
    err << "doctor: " << proxy.message() << '\n';
    return kExitUsage;
  }
  settings.http.proxy = std::move(*proxy);
  const http::ClientOptions http_options = settings.http;

  // The model as serve resolves it (an alias to its ID), and the route that would serve it.
  std::string model = args.model;
  std::string asked;
  if (const auto alias = cfg->models.find(model); alias != cfg->models.end()) {
    asked = model;
    model = alias->second;
  }
  auto routes = gateway::RouteTable::build(*cfg, {}, {});
  if (!routes) {
    err << "doctor: " << routes.message() << '\n';
    return kExitUsage;
  }
  const gateway::ModelRoute* route = model.empty() ? nullptr : routes->match(model, asked);

  // Every distinct identity the clients sign with, as serve names them (signgate-CLIENT
  // sessions); with no clients yet, the aws: identity itself.
  struct Identity {
    aws::RoleSettings role;
    std::vector<std::string> clients;
  };
  std::vector<Identity> identities;
  const auto table = auth::ClientTable::from_config(*cfg);
  for (const auto& client : table.clients()) {
    auto same =
        std::find_if(identities.begin(), identities.end(), [&](const Identity& i) { return i.role == client.role; });
    if (same == identities.end()) {
      identities.push_back({client.role, {}});
      same = std::prev(identities.end());
    }
    same->clients.push_back(client.name);
  }
  if (identities.empty()) identities.push_back({cfg->aws.role, {}});

  aws::CredentialManager manager(settings, env);
  std::vector<std::shared_ptr<aws::CredentialCache>> caches;
  for (const auto& identity : identities) caches.push_back(manager.identity(identity.role));
  std::vector<NamedIdentity> named = named_identities(*cfg);
  for (auto& n : named) n.cache = manager.identity(named_role(*n.config, table));  // all assumed at once
  // The credentials of each client identity whose clients may call the model (null: none may).
  std::vector<std::shared_ptr<const aws::Credentials>> callers(identities.size());
  int rc = kExitOk;
  bool base_named = false;
  bool called = false;  // some identity may make the Converse call
  for (std::size_t i = 0; i < identities.size(); ++i) {
    const aws::RoleSettings& role = identities[i].role;
    std::string whose;
    for (const auto& name : identities[i].clients) whose += (whose.empty() ? " (client " : ", ") + name;
    if (!whose.empty()) whose += ")";
    auto creds = caches[i]->wait_first(std::chrono::seconds(args.timeout_seconds));
    const aws::CacheStatus status = caches[i]->status();
    if (!base_named && !status.source.empty()) {
      out << "credentials " << status.source << '\n';
      base_named = true;
    }
    if (!creds) {
      std::string why = creds.message();
      if (why.find("no AWS credentials found") != std::string::npos) {
        why +=
            " — give signgate base credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "a web identity token (EKS), or run it where an instance or task role applies";
      }
      err << "doctor: " << why << whose << '\n';
      rc = kExitFailure;
      continue;
    }
    if (role.role_arn.empty()) {
      out << "identity    base credentials" << whose << " (no role_arn: signing with them directly; set a role "
          << "for delegated access)\n";
    } else {
      out << "role        assumed " << (status.assumed_role_arn.empty() ? role.role_arn : status.assumed_role_arn)
          << ", session " << aws::sanitize_session_name(role.session_name) << whose << '\n';
    }
    if (status.expiration) {
      out << "expires     " << format_iso8601(*status.expiration) << " (in " << minutes_until(*status.expiration)
          << "; refreshed " << cfg->aws.refresh_before_expiry.count() << " s before)\n";
    }
    if (args.model.empty()) continue;
    // One tiny call per identity whose clients may use the model (any identity with no clients).
    bool may_call = identities[i].clients.empty();
    for (const auto& client : table.clients()) {
      const bool uses = std::find(identities[i].clients.begin(), identities[i].clients.end(), client.name) !=
                        identities[i].clients.end();
      may_call = may_call || (uses && client.allows_model(model));
    }
    if (!may_call) continue;
    called = true;
    callers[i] = *creds;
    if (route != nullptr) continue;  // serve sends it to the route's targets, probed below
    std::string error;
    auto base = http::parse_url(cfg->aws.bedrock_url(), &error);
    if (!base) {
      err << "doctor: aws.bedrock_endpoint: " << error << '\n';
      return kExitUsage;
    }
    const Probe probe{*base, cfg->aws.region, model, "bedrock     ", "doctor: ", "aws.region / aws.bedrock_endpoint"};
    const int call = converse_once(probe, **creds, http_options, out, err);
    if (call != kExitOk) rc = call;
  }
  // Each identity a route names, reported on its own: one that cannot be assumed fails only
  // the targets that sign with it.
  for (auto& n : named) {
    auto creds = n.cache->wait_first(std::chrono::seconds(args.timeout_seconds));
    const std::string& name = n.config->name;
    if (!creds) {
      err << "doctor: identity " << name << ": " << creds.message() << " (this identity's: identities." << name
          << ")\n";
      rc = kExitFailure;
      continue;
    }
    n.creds = *creds;
    const aws::CacheStatus status = n.cache->status();
    const aws::RoleSettings role = named_role(*n.config, table);
    std::string used_by;
    for (const auto& r : n.routes) {
      if (!used_by.empty()) used_by += ", ";
      used_by += r;
    }
    out << "identity    " << name << ": assumed "
        << (status.assumed_role_arn.empty() ? role.role_arn : status.assumed_role_arn) << ", session "
        << role.session_name << " in " << n.config->region << " (routes " << used_by << ")\n";
  }
  if (route != nullptr && called) {
    out << "route       " << route->name << " serves " << model << " with " << route->targets.size() << " target"
        << (route->targets.size() == 1 ? "" : "s") << '\n';
    for (const auto& t : route->targets) {
      std::string what = t.name;
      what += " (";
      what += t.identity;
      what += ", ";
      what += t.region;
      what += ")";
      const std::string sent = t.model_for(model);
      std::string fix = "target ";
      fix += t.name;
      fix += "'s region / bedrock_endpoint";
      std::vector<std::pair<std::shared_ptr<const aws::Credentials>, std::string>> signers;
      if (t.identity == "default") {
        for (std::size_t i = 0; i < identities.size(); ++i) {
          if (!callers[i]) continue;
          std::string whose;  // several client identities: say whose credentials signed
          if (identities.size() > 1) {
            for (const auto& c : identities[i].clients) {
              whose += whose.empty() ? " as client " : ", ";
              whose += c;
            }
          }
          signers.emplace_back(callers[i], whose);
        }
        if (signers.empty()) {
          err << "doctor: target " << what << ": not probed: no client identity that may call " << model
              << " could be assumed\n";
          rc = kExitFailure;
        }
      } else {
        const auto n = std::find_if(named.begin(), named.end(),
                                    [&](const NamedIdentity& x) { return x.config->name == t.identity; });
        if (n == named.end() || !n->creds) {
          err << "doctor: target " << what << ": not probed: identity " << t.identity << " could not be assumed\n";
          rc = kExitFailure;
          continue;
        }
        signers.emplace_back(n->creds, std::string());
      }
      for (const auto& [creds, whose] : signers) {
        std::string label = "target      ";
        label += what;
        label += whose;
        label += ": ";
        std::string error_prefix = "doctor: target ";
        error_prefix += what;
        error_prefix += whose;
        error_prefix += ": ";
        const Probe probe{t.endpoint, t.region, sent, label, error_prefix, fix};
        if (converse_once(probe, *creds, http_options, out, err) != kExitOk) rc = kExitFailure;
      }
    }
  }
  if (rc != kExitOk) return rc;
  if (!args.model.empty() && !called) {
    err << "doctor: no client may call " << model << " (no client's models allowlist admits it)\n";
    return kExitFailure;
  }
  if (args.model.empty()) {
    out << "ok          add --model ID to make one tiny Converse call\n";
  } else {
    out << "ok          signgate can reach Bedrock as configured\n";
  }
  return kExitOk;
}

CLI::App* add_doctor_command(CLI::App& app, DoctorArgs& args) {
  CLI::App* cmd = app.add_subcommand("doctor", "Check credentials, the role and (with --model) one Bedrock call");
  cmd->add_option("--config", args.config, "signgate YAML config")->required();
  cmd->add_option("--model", args.model, "Model ID or inference profile for one tiny Converse call");
  cmd->add_option("--timeout", args.timeout_seconds, "Seconds to wait for credentials")->check(CLI::Range(1, 600));
  return cmd;
}

}  // namespace signgate::cli
