#include "cli/serve_command.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <optional>
#include <thread>

#include "aws/model_id.h"
#include "aws/model_pattern.h"
#include "cli/logging.h"
#include "cli/sign_command.h"
#include "common/base64.h"
#include "common/cpus.h"
#include "common/crypto.h"
#include "config/config.h"
#include "config/stable_file.h"
#include "gateway/gateway.h"
#include "gateway/limits.h"
#include "gateway/preflight.h"
#include "gateway/revocations.h"
#include "gateway/route_fleet.h"
#include "store/redis.h"

namespace signgate::cli {

namespace asio = boost::asio;

namespace {

std::optional<std::int64_t> mtime_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

http::ClientOptions upstream_options(const config::Config& cfg, const http::ProxySettings& proxy) {
  http::ClientOptions o;
  o.ca_file = cfg.upstream.ca_file;
  o.connect_timeout = cfg.upstream.connect_timeout;
  o.first_byte_timeout = cfg.upstream.first_byte_timeout;
  o.idle_timeout = cfg.upstream.idle_timeout;
  o.proxy = proxy;
  return o;
}

}  // namespace

int run_serve(const ServeArgs& args, const Environment& env) {
  // Logs go to stderr; stdout carries only the "listening on" line (and an audit path of "-").
  configure_logging(args.log_level, args.log_format);
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    std::cerr << cfg.message() << '\n';
    return kExitUsage;
  }
  if (const std::string problems = gateway::serve_problems(*cfg); !problems.empty()) {
    std::cerr << problems << '\n';
    return kExitUsage;
  }
  if (const std::string warnings = gateway::serve_warnings(*cfg); !warnings.empty()) {
    spdlog::warn("{}", warnings);
  }
  auto proxy = http::ProxySettings::from_environment(env);
  if (!proxy) {
    std::cerr << "signgate: " << proxy.message() << '\n';
    return kExitUsage;
  }
  auto audit = gateway::AuditLog::open(cfg->audit_path);
  if (!audit) {
    std::cerr << "signgate: " << audit.message() << '\n';
    return kExitUsage;
  }
  const std::string host = cfg->listen_host;

  aws::CredentialSettings cs;
  cs.region = cfg->aws.region;
  cs.sts_endpoint = cfg->aws.sts_endpoint;
  cs.refresh_before = cfg->aws.refresh_before_expiry;
  cs.http = upstream_options(*cfg, *proxy);
  aws::CredentialManager credentials(cs, env);

  gateway::Metrics metrics;
  auto runtime = gateway::build_runtime(*cfg, credentials);
  if (!runtime) {
    std::cerr << runtime.message() << '\n';
    return kExitUsage;
  }
  // With redis:, what clients spend, what the gateway remembers (stored responses, who started
  // which async invocation) and which keys are revoked are shared by every replica that uses
  // the same Redis; each loop has its own connection.
  std::shared_ptr<gateway::Fleet> fleet;
  if (cfg->redis) {
    auto options = gateway::redis_options(*cfg->redis);
    if (!options) {
      std::cerr << "signgate: " << cfg->source << ": " << options.message() << '\n';
      return kExitUsage;
    }
    gateway::FleetOptions fo;
    fo.redis = std::move(*options);
    fo.deny_on_failure = cfg->redis->deny_on_failure;
    fleet = std::make_shared<gateway::Fleet>(fo);
    spdlog::info("limits, budgets, stored responses and revocations shared through {} (on failure: {})", fleet->where(),
                 fo.deny_on_failure ? "deny" : "local");
  }
  gateway::Gateway gw(*runtime, **audit, metrics, gateway::Gateway::bedrock(upstream_options(*cfg, *proxy), metrics),
                      fleet);
  // With redis:, keys revoked by `signgate revoke` are refused on every replica.
  auto revocations = std::make_shared<gateway::Revocations>();
  std::optional<store::RedisOptions> redis_options;
  if (fleet) {
    redis_options = fleet->options().redis;
    redis_options->command_timeout = std::chrono::seconds(2);  // the control loop's; no request waits on it
    revocations->set_fail_closed(fleet->options().deny_on_failure);
    gw.use_revocations(revocations);
    // What was revoked before this replica started is refused from its first request.
    std::string why;
    bool misconfigured = false;
    const bool loaded = gateway::load_revocations(*redis_options, *revocations, &why, &misconfigured);
    if (misconfigured) {
      std::cerr << "signgate: " << cfg->source << ": redis.url: " << why << '\n';
      return kExitUsage;
    }
    fleet->stats()->redis_up = loaded;
    if (!loaded) {
      if (fleet->options().deny_on_failure) {
        spdlog::warn(
            "revocations: could not be read from Redis at start ({}); requests with API keys are refused (503) "
            "until Redis answers (redis.on_failure: deny)",
            why);
      } else {
        spdlog::warn(
            "revocations: could not be read from Redis at start ({}); revoked secrets may be accepted until Redis "
            "answers (redis.on_failure: local)",
            why);
      }
    }
  }

  http::ServerOptions so;
  so.host = host;
  so.port = cfg->listen_port;
  so.threads = args.threads != 0 ? args.threads : available_cpus();
  so.max_header_bytes = cfg->max_header_bytes;
  so.max_connections = cfg->max_connections;
  so.tls_cert = cfg->tls_cert;
  so.tls_key = cfg->tls_key;
  http::Server server(so, gw.handlers(!cfg->ops_listen), gw.rejected());
  auto bound = server.listen();
  if (!bound) {
    std::cerr << "signgate: " << bound.message() << '\n';
    return kExitFailure;
  }
  // /healthz, /readyz and /metrics on a private port of their own, as Envoy's admin port.
  std::optional<http::Server> ops;
  std::optional<std::uint16_t> ops_bound;
  if (cfg->ops_listen) {
    http::ServerOptions oo;
    oo.host = cfg->ops_listen_host;
    oo.port = cfg->ops_listen_port;
    oo.threads = 1;
    oo.max_header_bytes = 8 * 1024;
    oo.max_connections = 64;
    oo.header_timeout = std::chrono::seconds(5);
    ops.emplace(oo, gw.ops_handler());
    auto b = ops->listen();
    if (!b) {
      std::cerr << "signgate: ops_listen: " << b.message() << '\n';
      return kExitFailure;
    }
    ops_bound = *b;
  }
  // The control loop: signals and the config file's changes. Signals are taken before
  // "listening" is announced, so a SIGHUP right after start reloads instead of killing.
  asio::io_context control;
  asio::signal_set signals(control, SIGTERM, SIGINT, SIGHUP);
  std::optional<gateway::RevocationFollower> follower;
  std::optional<gateway::EjectionFollower> ejections;
  if (redis_options) {
    // Its once-a-second read is also the fleet's health check, for /readyz and /metrics.
    follower.emplace(control.get_executor(), *redis_options, revocations,
                     [stats = fleet->stats()](bool answered) { stats->redis_up = answered; });
    ejections.emplace(control.get_executor(), *redis_options, gw.route_state().health);
  }
  server.start();
  if (ops) ops->start();
  spdlog::info("signgate listening on {}://{}:{} ({} loops, {} clients, role {})",
               so.tls_cert.empty() ? "http" : "https", host, *bound, server.loops(), cfg->clients.size(),
               cfg->aws.role.role_arn.empty() ? "none" : cfg->aws.role.role_arn);
  std::cout << "signgate listening on " << (so.tls_cert.empty() ? "http" : "https") << "://" << host << ":" << *bound
            << std::endl;
  if (ops) {
    spdlog::info("signgate ops listening on http://{}:{}", cfg->ops_listen_host, *ops_bound);
    std::cout << "signgate ops listening on http://" << cfg->ops_listen_host << ":" << *ops_bound << std::endl;
  }
  asio::steady_timer watch(control);
  std::optional<std::int64_t> seen = mtime_of(args.config);
  // Blocks the control loop for a settle interval (at most ~3 s while the file keeps changing);
  // the server's loops keep serving meanwhile.
  const auto reload = [&](const char* why) {
    // Only a version that stayed put for the settle interval: a half-written file can parse.
    auto text = config::read_stable_file(args.config);
    if (!text) {
      spdlog::error("reload ({}) refused, keeping the running config: {}", why, text.message());
      return;  // `seen` stays behind, so the next poll tries again once the writer is done
    }
    seen = text->mtime_ns;
    auto next = config::parse_config(text->text, args.config, env);
    if (!next) {
      spdlog::error("reload ({}) refused, keeping the running config: {}", why, next.message());
      return;
    }
    // What check-config refuses (no clients left, an alias no one may call, ...) is only noted
    // on a reload: a reload that takes access away must never be refused.
    if (const std::string problems = gateway::serve_problems(*next); !problems.empty()) {
      spdlog::warn("reload ({}): {}", why, problems);
    }
    if (const std::string warnings = gateway::serve_warnings(*next); !warnings.empty()) {
      spdlog::warn("reload ({}): {}", why, warnings);
    }
    const std::string changes = config::describe_changes(gw.runtime()->config, *next);
    // What the listeners, the audit file, the credential thread and the upstream client took at start.
    std::string restart_only;
    const auto pending = [&](bool differs, const char* key) {
      if (differs) restart_only += std::string(restart_only.empty() ? "" : ", ") + key;
    };
    pending(next->listen != cfg->listen, "listen");
    pending(next->ops_listen != cfg->ops_listen, "ops_listen");
    pending(next->aws.region != cfg->aws.region, "aws.region");
    pending(next->aws.sts_endpoint != cfg->aws.sts_endpoint, "aws.sts_endpoint");
    pending(next->aws.refresh_before_expiry != cfg->aws.refresh_before_expiry, "aws.refresh_before_expiry_seconds");
    pending(next->max_connections != cfg->max_connections, "limits.max_connections");
    pending(next->max_header_bytes != cfg->max_header_bytes, "limits.max_header_bytes");
    pending(next->audit_path != cfg->audit_path, "audit.path");
    pending(next->redis != cfg->redis, "redis");
    pending(next->tls_cert != cfg->tls_cert || next->tls_key != cfg->tls_key, "tls");
    pending(next->upstream.ca_file != cfg->upstream.ca_file ||
                next->upstream.connect_timeout != cfg->upstream.connect_timeout ||
                next->upstream.first_byte_timeout != cfg->upstream.first_byte_timeout ||
                next->upstream.idle_timeout != cfg->upstream.idle_timeout,
            "upstream (but max_retries)");
    if (!restart_only.empty()) {
      spdlog::warn("reload ({}): {} differ from the running process and take effect only after a restart", why,
                   restart_only);
    }
    // Clients that stay keep their rate-limit buckets: logrotate's SIGHUP resets nobody.
    auto rt = gateway::build_runtime(std::move(*next), credentials, gw.runtime().get());
    if (!rt) {
      spdlog::error("reload ({}) refused, keeping the running config: {}", why, rt.message());
      return;
    }
    gw.swap(*rt);
    (*audit)->reopen();
    const std::size_t n = (*rt)->clients.clients().size();
    spdlog::info("reloaded {} ({}): {} client{}; {}", args.config, why, n, n == 1 ? "" : "s", changes);
  };
  std::function<void()> arm_watch = [&] {
    watch.expires_after(std::chrono::seconds(1));
    watch.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      const auto now = mtime_of(args.config);
      if (now && now != seen) {
        reload("file changed");  // sets `seen` once it read a settled version
      }
      arm_watch();
    });
  };
  std::function<void()> arm_signals = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        seen = mtime_of(args.config);
        reload("SIGHUP");
        arm_signals();
        return;
      }
      spdlog::info("stopping: no new connections, {} s for requests in flight", args.shutdown_grace_seconds);
      watch.cancel();
      if (follower) follower->stop();
      if (ejections) ejections->stop();
    });
  };
  arm_watch();
  arm_signals();
  control.run();
  if (ops) ops->stop(std::chrono::milliseconds(0));
  // A fleet's token charges stop riding on the next admission (none is coming): each goes out
  // as its answer ends, and those already owed within the carry window. The loops run that
  // long after the last request before they stop, so the charges reach Redis.
  if (fleet) fleet->drain();
  server.stop(std::chrono::seconds(args.shutdown_grace_seconds),
              fleet ? 2 * gateway::Fleet::kCarryWindow : std::chrono::milliseconds(0));
  (*audit)->flush();
  credentials.stop();
  spdlog::info("stopped");
  return kExitOk;
}

namespace {

// check-config --explain MODEL: for each client, whether its allowlist admits MODEL (an alias
// from models: is judged as the ID it names, as the OpenAI and Anthropic surfaces do) and by
// which pattern: the question an operator asks when a caller gets 403.
void explain_model(const config::Config& cfg, const std::string& model, std::ostream& out) {
  std::string id = model;
  if (const auto alias = cfg.models.find(model); alias != cfg.models.end()) {
    id = alias->second;
    out << model << " is an alias of " << id << " (models:); judged as " << id << "\n";
  } else {
    out << model << "\n";
  }
  if (!aws::valid_model_id(id)) out << "  (not a model ID Bedrock accepts: every call naming it gets 400)\n";
  for (const auto& client : cfg.clients) {
    const auto by = std::find_if(client.models.begin(), client.models.end(),
                                 [&](const std::string& pattern) { return aws::model_pattern_match(pattern, id); });
    out << "  " << client.name << ": ";
    if (by != client.models.end()) {
      out << "admitted by '" << *by << "'\n";
      continue;
    }
    out << "refused (403): none of ";
    for (std::size_t i = 0; i < client.models.size(); ++i) out << (i == 0 ? "'" : ", '") << client.models[i] << "'";
    out << " matches\n";
  }
}

}  // namespace

int run_check_config(const CheckConfigArgs& args, const Environment& env, std::ostream& out, std::ostream& err) {
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    err << cfg.message() << '\n';
    return kExitUsage;
  }
  if (const std::string problems = gateway::serve_problems(*cfg); !problems.empty()) {
    err << problems << '\n';
    return kExitUsage;
  }
  out << cfg->source << ": valid (listen " << cfg->listen << ", region " << cfg->aws.region << ", "
      << cfg->clients.size() << " client" << (cfg->clients.size() == 1 ? "" : "s") << ")\n";
  if (std::string warnings = gateway::serve_warnings(*cfg); !warnings.empty()) {
    for (std::size_t nl = warnings.find('\n'); nl != std::string::npos; nl = warnings.find('\n', nl + 1)) {
      warnings.insert(nl + 1, "warning: ");
    }
    err << "warning: " << warnings << '\n';
  }
  if (!args.explain.empty()) explain_model(*cfg, args.explain, out);
  return kExitOk;
}

namespace {

// `text` as a YAML plain scalar when it reads back as itself, else double-quoted.
std::string yaml_scalar(const std::string& text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
           ch == '.';
  });
  std::string lower = text;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool keyword = lower == "true" || lower == "false" || lower == "null" || lower == "yes" || lower == "no" ||
                       lower == "on" || lower == "off" || lower == "y" || lower == "n" || lower == "~";
  if (plain && !keyword && text.front() != '-' && text.front() != '.') return text;
  std::string quoted = "\"";
  for (const char ch : text) {
    if (ch == '"' || ch == '\\') quoted.push_back('\\');
    if (ch == '$') quoted.push_back('$');  // the config expands $; $$ is one
    quoted.push_back(ch);
  }
  return quoted + "\"";
}

}  // namespace

int run_keys_new(const KeysArgs& args, std::ostream& out, std::ostream& err) {
  if (args.name.empty() || args.name.size() > 128 ||
      std::any_of(args.name.begin(), args.name.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
    err << "signgate keys new: --name must be 1 to 128 printable characters\n";
    return kExitUsage;
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    err << "signgate keys new: the system's random source failed\n";
    return kExitFailure;
  }
  std::string b64 = base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  secure_wipe(bytes, sizeof bytes);
  for (char& c : b64) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  std::string secret = "sgk_" + b64;
  out << "secret (shown once; give it to the client, signgate keeps only its hash):\n  " << secret << "\n\n"
      << "config entry:\n"
      << "  - name: " << yaml_scalar(args.name) << "\n"
      << "    secret_sha256: " << sha256_hex(secret) << "\n"
      << "    models: [\"anthropic.claude-3-5-sonnet-*\"]   # the models this client may call\n";
  secure_wipe(secret);
  return kExitOk;
}

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args) {
  CLI::App* cmd = app.add_subcommand("serve", "Run the gateway");
  cmd->add_option("--config", args.config, "signgate YAML config")->required();
  cmd->add_option("--threads", args.threads,
                  "event loops (0: one per CPU this process may use, container limits included)");
  cmd->add_option("--shutdown-grace", args.shutdown_grace_seconds, "seconds requests in flight get on SIGTERM")
      ->check(CLI::Range(0, 3600));
  cmd->add_option("--log-level", args.log_level, "least severe log level written (debug, info, warn, error)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->add_option("--log-format", args.log_format, "text for people, json for log shippers (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  return cmd;
}

CLI::App* add_check_config_command(CLI::App& app, CheckConfigArgs& args) {
  CLI::App* cmd = app.add_subcommand("check-config", "Validate a config without serving");
  cmd->add_option("--config", args.config, "signgate YAML config")->required();
  cmd->add_option("--explain", args.explain,
                  "a model ID or alias: say, for each client, whether it may call it and by which pattern");
  return cmd;
}

CLI::App* add_keys_command(CLI::App& app, KeysArgs& args) {
  CLI::App* cmd = app.add_subcommand("keys", "Client secrets");
  CLI::App* create = cmd->add_subcommand("new", "Print a new random client secret and its config entry");
  create->add_option("--name", args.name, "client name")->required();
  cmd->require_subcommand(1);
  return cmd;
}

}  // namespace signgate::cli
