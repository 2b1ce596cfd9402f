// `signgate doctor --config FILE [--model ID]`: resolves the base credentials, assumes the
// role and every identity a route names, optionally makes one tiny Converse call (to each
// target of the route serving the model, when one does), and explains each failure with its fix.
#pragma once

#include <iosfwd>
#include <string>

#include <CLI/CLI.hpp>

#include "common/env.h"

namespace signgate::cli {

struct DoctorArgs {
  std::string config;
  std::string model;  // empty: no Bedrock call
  int timeout_seconds = 30;
};

// Runs the checks in order, each identity and target reported on its own line. Exit 0 when
// all passed, 1 when one failed, 2 when the config is unusable.
int run_doctor(const DoctorArgs& args, const Environment& env, std::ostream& out, std::ostream& err);

CLI::App* add_doctor_command(CLI::App& app, DoctorArgs& args);

}  // namespace signgate::cli
