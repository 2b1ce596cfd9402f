// `signgate revoke --config FILE --client NAME`: with redis: configured, revokes the client's
// current secrets on every replica that shares the Redis, within a second, and for good (the
// revoked hashes stay in Redis); a new secret given to the client in the config works.
#pragma once

#include <iosfwd>
#include <string>

#include <CLI/CLI.hpp>

#include "common/env.h"

namespace signgate::cli {

struct RevokeArgs {
  std::string config;
  std::string client;
};

int run_revoke(const RevokeArgs& args, const Environment& env, std::ostream& out, std::ostream& err);
CLI::App* add_revoke_command(CLI::App& app, RevokeArgs& args);

}  // namespace signgate::cli
