#include "cli/iam_policy_command.h"

#include <algorithm>
#include <iostream>

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
  // One policy pair per role: clients with their own aws.role_arn get theirs; clients that
  // share a role with different External IDs share its trust policy.
  struct Role {
    std::string arn;
    std::vector<std::string> clients;
    aws::PolicyScope scope;
    aws::TrustScope trust;
    std::vector<std::string> warnings;
    std::vector<std::string> without_external_id;  // clients that assume it with none
  };
  std::vector<Role> roles;
  for (const auto& client : cfg->clients) {
    const aws::RoleSettings& rs = client.aws ? *client.aws : cfg->aws.role;
    auto it = std::find_if(roles.begin(), roles.end(), [&](const Role& r) { return r.arn == rs.role_arn; });
    if (it == roles.end()) {
      Role fresh;
      fresh.arn = rs.role_arn;
      fresh.scope = {cfg->aws.region, aws::account_of(rs.role_arn), {}, false, false, false, false, {}, true};
      roles.push_back(std::move(fresh));
      it = std::prev(roles.end());
    }
    Role& role = *it;
    role.clients.push_back(client.name);
    if (rs.external_id.empty() && !rs.role_arn.empty()) role.without_external_id.push_back(client.name);
    if (!rs.external_id.empty() && std::find(role.trust.external_ids.begin(), role.trust.external_ids.end(),
                                             rs.external_id) == role.trust.external_ids.end()) {
      role.trust.external_ids.push_back(rs.external_id);
    }
    role.trust.source_identity = role.trust.source_identity || !rs.source_identity.empty();
    role.trust.tags = role.trust.tags || !rs.tags.empty();
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
    if (std::find(client.models.begin(), client.models.end(), "*") != client.models.end()) {
      role.warnings.push_back("iam-policy: warning: client " + client.name +
                              " may call every model (\"*\"), so the policy grants every model Bedrock offers; "
                              "list the models instead");
    }
  }
  if (roles.empty()) {
    err << "iam-policy: " << cfg->source
        << " has no clients, so no model may be invoked; add clients with models first\n";
    return kExitUsage;
  }
  if (!args.role.empty()) {
    // "base": the clients that sign with the base credentials themselves (no role_arn).
    const std::string wanted = args.role == "base" ? std::string() : args.role;
    std::erase_if(roles, [&](const Role& r) { return r.arn != wanted; });
    if (roles.empty()) {
      err << "iam-policy: no client uses the role " << args.role << "; the config's roles:";
      for (const auto& client : cfg->clients) {
        err << ' ' << (client.aws ? client.aws->role_arn : cfg->aws.role.role_arn);
      }
      err << '\n';
      return kExitUsage;
    }
  }
  for (auto& role : roles) {
    if (!role.without_external_id.empty() && !role.trust.external_ids.empty()) {
      // The trust policy demands an External ID, so these clients' AssumeRole would be denied.
      std::string names;
      for (const auto& c : role.without_external_id) names += (names.empty() ? "" : ", ") + c;
      role.warnings.push_back("iam-policy: warning: " + role.arn +
                              " is assumed with an External ID by some clients "
                              "and without one by " +
                              names +
                              ", whose AssumeRole the trust policy would deny; give "
                              "them the External ID");
    }
    for (const auto& w : role.warnings) err << w << '\n';
  }
  const std::string principal =
      args.principal.empty() ? "arn:aws:iam::ACCOUNT:role/SIGNGATE-BASE-IDENTITY" : args.principal;
  if (!args.kind.empty()) {
    // One pasteable JSON document: exactly one role, nothing but the policy on stdout.
    if (roles.size() > 1) {
      err << "iam-policy: the config uses " << roles.size() << " roles; name one with --role ARN:";
      for (const auto& r : roles) err << ' ' << (r.arn.empty() ? "(base credentials)" : r.arn);
      err << '\n';
      return kExitUsage;
    }
    const Role& role = roles.front();
    if (args.kind == "trust") {
      if (role.arn.empty()) {
        err << "iam-policy: no role_arn is configured, so there is no trust policy: the base identity signs\n";
        return kExitUsage;
      }
      if (args.principal.empty()) {
        err << "iam-policy: --kind trust needs --principal ARN (signgate's base identity: `aws sts "
               "get-caller-identity` where signgate runs)\n";
        return kExitUsage;
      }
      out << aws::trust_policy(principal, role.trust).dump(2) << '\n';
    } else {
      out << aws::permissions_policy(role.scope).dump(2) << '\n';
    }
    return kExitOk;
  }
  if (args.principal.empty()) {
    err << "iam-policy: put the ARN of signgate's base identity (`aws sts get-caller-identity` where signgate "
           "runs) in the trust policy, or pass --principal ARN\n";
  }
  for (const auto& role : roles) {
    std::string clients;
    for (const auto& c : role.clients) clients += (clients.empty() ? "" : ", ") + c;
    out << "# Role " << (role.arn.empty() ? "(none: the base identity signs directly)" : role.arn)
        << " — clients: " << clients << "\n# Permissions policy (alone: --role " << role.arn << " --kind permissions)\n"
        << aws::permissions_policy(role.scope).dump(2) << '\n';
    if (!role.arn.empty()) {
      out << "# Trust policy (alone: --role " << role.arn << " --kind trust --principal ARN)\n"
          << aws::trust_policy(principal, role.trust).dump(2) << '\n';
      if (role.trust.external_ids.empty()) {
        err << "iam-policy: " << role.arn
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
  cmd->add_option("--role", args.role, "only the policies of this role ARN (base: the base identity's)");
  cmd->add_option("--kind", args.kind, "print one pasteable JSON document: the permissions or the trust policy")
      ->check(CLI::IsMember({"permissions", "trust"}));
  return cmd;
}

}  // namespace signgate::cli
