// `signgate iam-policy --config FILE [--principal ARN] [--role ARN] [--kind permissions|trust]`: the permissions policy
// and the trust policy each role in the config needs (SPEC §4).
#pragma once

#include <iosfwd>
#include <string>

#include <CLI/CLI.hpp>

#include "common/env.h"

namespace signgate::cli {

struct IamPolicyArgs {
  std::string config;
  std::string principal;  // the identity signgate's base credentials belong to
  std::string role;       // only this role's policies
  std::string kind;       // "permissions" or "trust": one JSON document alone; empty: all, annotated
};

int run_iam_policy(const IamPolicyArgs& args, const Environment& env, std::ostream& out, std::ostream& err);

CLI::App* add_iam_policy_command(CLI::App& app, IamPolicyArgs& args);

}  // namespace signgate::cli
