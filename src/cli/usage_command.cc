#include "cli/usage_command.h"

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "cli/sign_command.h"
#include "common/line_reader.h"
#include "config/config.h"
#include "gateway/fan_out.h"
#include "gateway/fleet.h"
#include "gateway/usage_report.h"
#include "store/redis.h"

namespace signgate::cli {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kMaxAuditLine = 1 << 20;  // an audit line is a few hundred bytes
constexpr std::size_t kRedisParallel = 32;      // HGETALLs in flight at once

// Where the numbers come from, and what went wrong reading them.
struct Tally {
  gateway::UsageRows rows;
  std::uint64_t skipped = 0;  // audit lines that are not audit records; Redis fields not understood
  std::string failure;        // set: the source could not be read (exit 1)
};

// The config's audit file and its rotated siblings (PATH.1, PATH.2.gz, ...) that exist, sorted.
std::vector<std::string> rotated_audit_files(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  if (path.empty() || path == "-") return found;
  const fs::path audit(path);
  const std::string name = audit.filename().string();
  std::error_code ec;
  const fs::path dir = audit.has_parent_path() ? audit.parent_path() : fs::path(".");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string other = it->path().filename().string();
    if ((other == name || other.rfind(name + ".", 0) == 0) && it->is_regular_file(ec)) {
      found.push_back((audit.has_parent_path() ? dir / other : fs::path(other)).string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

Tally tally_audit_files(const std::vector<std::string>& files, const gateway::UsagePeriod& period,
                        const std::optional<std::string>& client) {
  Tally tally;
  gateway::AuditUsage usage;
  const auto on_line = [&](std::string_view line) {
    switch (gateway::read_audit_line(line, usage)) {
      case gateway::AuditLineKind::kMalformed: ++tally.skipped; return;
      case gateway::AuditLineKind::kNotAnswered: return;
      case gateway::AuditLineKind::kAnswered: break;
    }
    if (!period.contains(usage.day) || (client && usage.client != *client)) return;
    tally.rows[{usage.client, usage.model}].add(usage.counts);
  };
  for (const auto& file : files) {
    auto read = for_each_line(file, kMaxAuditLine, on_line);
    if (!read) {
      tally.failure = "cannot read audit file " + read.message();
      return tally;
    }
    tally.skipped += read->too_long;
  }
  return tally;
}

// HGETALL of each client's totals for each day of the period, a few at a time.
Tally tally_redis(const store::RedisOptions& options, const std::vector<std::string>& clients,
                  const gateway::UsagePeriod& period) {
  Tally tally;
  std::vector<std::pair<std::string, std::string>> wanted;  // (client, key)
  for (const auto& client : clients) {
    for (std::int64_t day = period.since; day <= period.until; ++day) {
      wanted.emplace_back(client, gateway::usage_key(client, day));
    }
  }
  asio::io_context ioc;
  store::Redis redis(ioc.get_executor(), options);
  const auto fetch = [&](std::size_t i) -> asio::awaitable<void> {
    if (!tally.failure.empty()) co_return;
    std::vector<std::string> command = {"HGETALL", wanted[i].second};
    auto reply = co_await redis.command(std::move(command));
    if (!reply || reply->is_error() || reply->type != store::Reply::Type::kArray) {
      if (tally.failure.empty()) tally.failure = !reply ? reply.message() : reply->str;
      co_return;
    }
    std::vector<std::pair<std::string, std::string>> fields;
    for (std::size_t f = 0; f + 1 < reply->elements.size(); f += 2) {
      fields.emplace_back(std::move(reply->elements[f].str), std::move(reply->elements[f + 1].str));
    }
    tally.skipped += gateway::add_usage_hash(tally.rows, wanted[i].first, fields);
  };
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await gateway::for_each_bounded(wanted.size(), kRedisParallel, fetch);
        redis.stop();
      },
      asio::detached);
  ioc.run();
  if (!tally.failure.empty()) tally.failure = "Redis " + options.url.redacted() + ": " + tally.failure;
  return tally;
}

std::string plural(std::uint64_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

}  // namespace

int run_usage(const UsageArgs& args, const Environment& env, SystemTime now, std::ostream& out, std::ostream& err) {
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    err << cfg.message() << '\n';
    return kExitUsage;
  }
  const auto period = gateway::usage_period(args.since, args.until, now);
  if (!period) {
    err << "signgate usage: " << period.message() << '\n';
    return kExitUsage;
  }
  Tally tally;
  std::string source, from;
  if (!args.audit.empty() || !cfg->redis) {
    const auto files = args.audit.empty() ? rotated_audit_files(cfg->audit_path) : args.audit;
    if (files.empty()) {
      err << "signgate usage: " << args.config << " has no redis: section and no audit file"
          << (cfg->audit_path.empty() || cfg->audit_path == "-" ? "" : " at " + cfg->audit_path)
          << ": pass the audit files with --audit FILE..., or configure redis:\n";
      return kExitUsage;
    }
    source = "audit";
    from = plural(files.size(), "audit file");
    tally = tally_audit_files(files, *period, args.client);
  } else {
    auto parsed = gateway::redis_options(*cfg->redis);
    if (!parsed) {
      err << "signgate usage: " << parsed.message() << '\n';
      return kExitUsage;
    }
    store::RedisOptions options = std::move(*parsed);
    options.command_timeout = std::chrono::seconds(5);
    options.connect_timeout = std::chrono::seconds(5);
    std::vector<std::string> clients;
    if (args.client) {
      clients.push_back(*args.client);
    } else {
      for (const auto& c : cfg->clients) clients.push_back(c.name);
    }
    source = "redis";
    from = "Redis " + options.url.redacted();
    tally = tally_redis(options, clients, *period);
  }
  if (!tally.failure.empty()) {
    err << "signgate usage: " << tally.failure << '\n';
    return kExitFailure;
  }
  if (tally.skipped > 0) {
    err << "signgate usage: skipped " << plural(tally.skipped, source == "redis" ? "Redis field" : "line")
        << (source == "redis" ? " not understood\n"
                              : " that are not audit records (not JSON, or without ts, status, client or model)\n");
  }
  if (args.json) {
    out << gateway::format_usage_json(tally.rows, *period, source);
  } else {
    out << "usage " << gateway::format_utc_date(period->since) << " to " << gateway::format_utc_date(period->until)
        << " (UTC days, answered calls), from " << from << "\n\n"
        << gateway::format_usage_table(tally.rows);
  }
  return kExitOk;
}

CLI::App* add_usage_command(CLI::App& app, UsageArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "usage", "Spend and tokens per client and model over whole UTC days (from --audit files, Redis, or audit.path)");
  cmd->add_option("--config", args.config, "signgate YAML config")->required();
  cmd->add_option("--client", args.client, "only this client");
  cmd->add_option("--since", args.since,
                  "first day, YYYY-MM-DD (default: the first day of --until's month, else of this month, UTC)");
  cmd->add_option("--until", args.until, "last day, YYYY-MM-DD (default: today, UTC)");
  cmd->add_flag("--json", args.json, "print a JSON object instead of a table");
  cmd->add_option("--audit", args.audit, "audit files to read (*.gz: gzip) instead of Redis")->expected(1, -1);
  return cmd;
}

}  // namespace signgate::cli
