// `signgate iam-policy --config FILE [--principal ARN]`: the permissions policy and the trust
// policy each role in the config needs (SPEC §4).
#pragma once

#include <iosfwd>
#include <string>

#include <CLI/CLI.hpp>

#include "common/env.h"

namespace signgate::cli {

struct IamPolicyArgs {
  std::string config;
  std::string principal;  // the identity signgate's base credentials belong to
};

int run_iam_policy(const IamPolicyArgs& args, const Environment& env, std::ostream& out, std::ostream& err);

CLI::App* add_iam_policy_command(CLI::App& app, IamPolicyArgs& args);

}  // namespace signgate::cli
