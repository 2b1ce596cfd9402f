#include "cli/iam_policy_command.h"

#include <algorithm>
#include <iostream>
#include <map>

#include "aws/iam_policy.h"
#include "cli/sign_command.h"
#include "config/config.h"

namespace signgate::cli {

int run_iam_policy(const IamPolicyArgs& args, const Environment& env, std::ostream& out, std::ostream& err) {
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    err << cfg.message() << '\n';
    return kExitUsage;
  }
  // One policy pair per role: clients with their own aws.role_arn get theirs.
  struct Role {
    aws::RoleSettings settings;
    std::vector<std::string> clients;
    aws::PolicyScope scope;
  };
  std::map<std::string, Role> roles;
  for (const auto& client : cfg->clients) {
    const aws::RoleSettings& rs = client.aws ? *client.aws : cfg->aws.role;
    Role& role = roles[rs.role_arn + '\n' + rs.external_id];
    if (role.clients.empty()) {
      role.settings = rs;
      role.scope = {cfg->aws.region, aws::account_of(rs.role_arn), {}, false, false, false, false, {}, true};
    }
    role.clients.push_back(client.name);
    role.scope.models.insert(role.scope.models.end(), client.models.begin(), client.models.end());
    const auto allows = [&](const char* op) {
      return client.operations.empty() ||
             std::find(client.operations.begin(), client.operations.end(), op) != client.operations.end();
    };
    role.scope.invoke = role.scope.invoke || allows("invoke") || allows("converse");
    role.scope.streaming = role.scope.streaming || allows("invoke-stream") || allows("converse-stream");
    role.scope.count_tokens = role.scope.count_tokens || allows("count-tokens");
    role.scope.discovery = role.scope.discovery || (cfg->discovery && allows("discovery"));
    if (client.guardrail) {
      role.scope.guardrails.emplace_back(client.guardrail->id, client.guardrail->version);
    } else {
      role.scope.every_client_guarded = false;
    }
  }
  if (roles.empty()) {
    err << "iam-policy: " << cfg->source
        << " has no clients, so no model may be invoked; add clients with models first\n";
    return kExitUsage;
  }
  const std::string principal =
      args.principal.empty() ? "arn:aws:iam::ACCOUNT:role/SIGNGATE-BASE-IDENTITY" : args.principal;
  if (args.principal.empty()) {
    err << "iam-policy: put the ARN of signgate's base identity (`aws sts get-caller-identity` where signgate "
           "runs) in the trust policy, or pass --principal ARN\n";
  }
  for (const auto& [key, role] : roles) {
    std::string clients;
    for (const auto& c : role.clients) clients += (clients.empty() ? "" : ", ") + c;
    out << "# Role "
        << (role.settings.role_arn.empty() ? "(none: the base identity signs directly)" : role.settings.role_arn)
        << " — clients: " << clients << "\n# Permissions policy\n"
        << aws::permissions_policy(role.scope).dump(2) << '\n';
    if (!role.settings.role_arn.empty()) {
      out << "# Trust policy\n" << aws::trust_policy(principal, role.settings.external_id).dump(2) << '\n';
      if (role.settings.external_id.empty()) {
        err << "iam-policy: " << role.settings.role_arn
            << " has no External ID; set one (aws.external_id) so that only signgate can assume it\n";
      }
    }
  }
  return kExitOk;
}

CLI::App* add_iam_policy_command(CLI::App& app, IamPolicyArgs& args) {
  CLI::App* cmd = app.add_subcommand("iam-policy", "Print the least-privilege permissions and trust policies");
  cmd->add_option("--config", args.config, "signgate YAML config")->required();
  cmd->add_option("--principal", args.principal, "ARN of the identity signgate's base credentials belong to");
  return cmd;
}

}  // namespace signgate::cli
