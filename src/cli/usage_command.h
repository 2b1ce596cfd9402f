// `signgate usage --config FILE [--client N] [--since D] [--until D] [--json] [--audit FILE...]`
// (SPEC §8): spend and tokens per client and model over whole UTC days, from the audit files
// named with --audit, else from the per-day totals the fleet keeps in Redis (redis:), else
// from the config's audit file and its rotated siblings. Answered calls only; calls without a
// price show as unknown.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/env.h"
#include "common/time.h"

namespace signgate::cli {

struct UsageArgs {
  std::string config;
  std::optional<std::string> client;
  std::optional<std::string> since;  // YYYY-MM-DD; default: the first day of this month (UTC)
  std::optional<std::string> until;  // YYYY-MM-DD; default: today (UTC)
  bool json = false;
  std::vector<std::string> audit;
};

// Exit 0 with the report on `out`; 2 for bad input (flags, dates, config, no source); 1 when
// the source cannot be read (which Redis, or which file, on `err`).
int run_usage(const UsageArgs& args, const Environment& env, SystemTime now, std::ostream& out, std::ostream& err);
CLI::App* add_usage_command(CLI::App& app, UsageArgs& args);

}  // namespace signgate::cli
