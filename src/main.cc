// signgate: flags, then hand over to the command. No logic here.
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/doctor_command.h"
#include "cli/iam_policy_command.h"
#include "cli/logging.h"
#include "cli/revoke_command.h"
#include "cli/serve_command.h"
#include "cli/sign_command.h"
#include "cli/usage_command.h"
#include "common/env.h"
#include "common/version.h"

namespace {

// Secrets given as flags stay visible in /proc/PID/cmdline; blank them once parsed.
void scrub_secret_flags(int argc, char** argv) {
  static constexpr const char* kSecretFlags[] = {"--secret-key", "--session-token"};
  for (int i = 1; i < argc; ++i) {
    for (const char* flag : kSecretFlags) {
      const std::size_t n = std::strlen(flag);
      if (std::strcmp(argv[i], flag) == 0 && i + 1 < argc) {
        std::memset(argv[i + 1], '*', std::strlen(argv[i + 1]));
      } else if (std::strncmp(argv[i], flag, n) == 0 && argv[i][n] == '=') {
        std::memset(argv[i] + n + 1, '*', std::strlen(argv[i] + n + 1));
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"signgate — a SigV4 signing gateway for Amazon Bedrock"};
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();  // --help shows each option's default
  app.set_version_flag("--version", std::string("signgate ") + std::string(signgate::version()) + " (" +
                                        std::string(signgate::commit()) + ")");
  signgate::cli::SignArgs sign_args;
  CLI::App* sign = signgate::cli::add_sign_command(app, sign_args);
  signgate::cli::DoctorArgs doctor_args;
  CLI::App* doctor = signgate::cli::add_doctor_command(app, doctor_args);
  signgate::cli::IamPolicyArgs iam_args;
  CLI::App* iam = signgate::cli::add_iam_policy_command(app, iam_args);
  signgate::cli::ServeArgs serve_args;
  CLI::App* serve = signgate::cli::add_serve_command(app, serve_args);
  signgate::cli::CheckConfigArgs check_args;
  CLI::App* check = signgate::cli::add_check_config_command(app, check_args);
  signgate::cli::KeysArgs keys_args;
  CLI::App* keys = signgate::cli::add_keys_command(app, keys_args);
  signgate::cli::RevokeArgs revoke_args;
  CLI::App* revoke = signgate::cli::add_revoke_command(app, revoke_args);
  signgate::cli::UsageArgs usage_args;
  CLI::App* usage = signgate::cli::add_usage_command(app, usage_args);
  // CLI11 would only say "a subcommand is required"; name the word it did not know.
  const auto known = app.get_subcommands([&](CLI::App* c) { return argc > 1 && c->check_name(argv[1]); });
  if (argc > 1 && argv[1][0] != '-' && known.empty()) {
    std::cerr
        << "signgate: unknown command '" << argv[1]
        << "' (commands: serve, check-config, keys, revoke, usage, doctor, iam-policy, sign; see signgate --help)\n";
    return signgate::cli::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Point at the help of the command that failed to parse (`signgate keys --help`), not the top.
    std::string help = "signgate --help";
    for (const CLI::App* sub : known) {
      help = "signgate " + sub->get_name() + " --help";
      for (const CLI::App* inner : sub->get_subcommands({})) {
        if (argc > 2 && inner->check_name(argv[2])) help = "signgate " + sub->get_name() + " " + argv[2] + " --help";
      }
    }
    std::cerr << "signgate: " << e.what() << " (see " << help << ")\n";
    return signgate::cli::kExitUsage;
  }
  scrub_secret_flags(argc, argv);
  if (!*serve) signgate::cli::silence_logging();
  if (*sign) return signgate::cli::run_sign(sign_args, std::cout, std::cerr);
  const auto env = signgate::process_environment();
  if (*serve) return signgate::cli::run_serve(serve_args, env);
  if (*check) return signgate::cli::run_check_config(check_args, env, std::cout, std::cerr);
  if (*keys) return signgate::cli::run_keys_new(keys_args, std::cout, std::cerr);
  if (*revoke) return signgate::cli::run_revoke(revoke_args, env, std::cout, std::cerr);
  if (*usage) return signgate::cli::run_usage(usage_args, env, signgate::system_now(), std::cout, std::cerr);
  if (*iam) return signgate::cli::run_iam_policy(iam_args, signgate::process_environment(), std::cout, std::cerr);
  if (*doctor) {
    return signgate::cli::run_doctor(doctor_args, signgate::process_environment(), std::cout, std::cerr);
  }
  return signgate::cli::kExitUsage;
}
