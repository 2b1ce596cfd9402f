// `signgate serve --config FILE`, `signgate check-config --config FILE`, `signgate keys new --name NAME`.
#pragma once

#include <iosfwd>
#include <string>

#include <CLI/CLI.hpp>

#include "common/env.h"

namespace signgate::cli {

struct ServeArgs {
  std::string config;
  unsigned threads = 0;  // 0: one per core
  int shutdown_grace_seconds = 30;
  std::string log_level = "info";
  std::string log_format = "text";
};

// Serves until SIGTERM/SIGINT; SIGHUP or a change of the file reloads the config.
int run_serve(const ServeArgs& args, const Environment& env);

struct CheckConfigArgs {
  std::string config;
  std::string explain;  // --explain MODEL: which client may call it, and by which pattern
};
int run_check_config(const CheckConfigArgs& args, const Environment& env, std::ostream& out, std::ostream& err);

struct KeysArgs {
  std::string name;
};
// Prints a new random secret (sgk_ + 256 bits, base64url) once, and the config lines.
int run_keys_new(const KeysArgs& args, std::ostream& out, std::ostream& err);

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args);
CLI::App* add_check_config_command(CLI::App& app, CheckConfigArgs& args);
CLI::App* add_keys_command(CLI::App& app, KeysArgs& args);

}  // namespace signgate::cli
