#include "cli/revoke_command.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <ostream>

#include "cli/sign_command.h"
#include "config/config.h"
#include "gateway/fleet.h"
#include "gateway/revocations.h"
#include "store/redis.h"

namespace signgate::cli {

namespace asio = boost::asio;

int run_revoke(const RevokeArgs& args, const Environment& env, std::ostream& out, std::ostream& err) {
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    err << cfg.message() << '\n';
    return kExitUsage;
  }
  if (!cfg->redis) {
    err << "signgate revoke: " << args.config
        << " has no redis: section, so there is no fleet to tell; remove the client (or set its expires_at) "
           "and reload instead\n";
    return kExitUsage;
  }
  const config::ClientConfig* client = nullptr;
  for (const auto& c : cfg->clients) {
    if (c.name == args.client) client = &c;
  }
  if (client == nullptr) {
    err << "signgate revoke: " << args.config << " has no client named '" << args.client << "'\n";
    return kExitUsage;
  }
  auto parsed = gateway::redis_options(*cfg->redis);
  if (!parsed) {
    err << "signgate revoke: " << parsed.message() << '\n';
    return kExitUsage;
  }
  store::RedisOptions options = std::move(*parsed);
  options.command_timeout = std::chrono::seconds(5);
  options.connect_timeout = std::chrono::seconds(5);

  asio::io_context ioc;
  store::Redis redis(ioc.get_executor(), options);
  std::string failure;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        // Kept first, announced second: a replica that misses the message reads the set within a second.
        std::vector<std::string> add = {"SADD", std::string(gateway::kRevokedSet)};
        add.insert(add.end(), client->secret_sha256.begin(), client->secret_sha256.end());
        auto added = co_await redis.command(std::move(add));
        if (!added || added->is_error()) {
          failure = added ? added->str : added.message();
        } else {
          for (const auto& hash : client->secret_sha256) {
            std::vector<std::string> publish = {"PUBLISH", std::string(gateway::kRevocationChannel), hash};
            auto told = co_await redis.command(std::move(publish));
            if (!told || told->is_error()) failure = told ? told->str : told.message();
          }
        }
        redis.stop();
      },
      asio::detached);
  ioc.run();
  if (!failure.empty()) {
    err << "signgate revoke: Redis " << options.url.redacted() << ": " << failure << '\n';
    return kExitFailure;
  }
  out << "revoked " << client->secret_sha256.size() << " secret" << (client->secret_sha256.size() == 1 ? "" : "s")
      << " of client " << client->name << " on every replica sharing " << options.url.redacted()
      << "; give the client a new secret (signgate keys new) and reload to let it back in\n";
  return kExitOk;
}

CLI::App* add_revoke_command(CLI::App& app, RevokeArgs& args) {
  CLI::App* cmd = app.add_subcommand("revoke", "Revoke a client's current secrets on every replica (needs redis:)");
  cmd->add_option("--config", args.config, "signgate YAML config")->required();
  cmd->add_option("--client", args.client, "the client whose secrets to revoke")->required();
  return cmd;
}

}  // namespace signgate::cli
