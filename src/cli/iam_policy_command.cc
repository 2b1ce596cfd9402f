#include "cli/iam_policy_command.h"

#include <algorithm>
#include <iostream>

#include "aws/iam_policy.h"
#include "aws/model_pattern.h"
#include "cli/sign_command.h"
#include "config/config.h"
#include "gateway/routes.h"

namespace signgate::cli {

namespace {

// One policy pair per role: clients with their own aws.role_arn get theirs; clients that share a
// role with different External IDs share its trust policy; a named identity's role gets what
// the routes send through it.
struct Role {
  std::string arn;
  std::vector<std::string> clients;     // that sign with it as their own identity
  std::vector<std::string> identities;  // identities: that assume it
  std::vector<std::string> routes;      // whose targets sign with it
  std::vector<std::string> served;      // clients whose actions and guardrails it carries
  aws::PolicyScope scope;
  aws::TrustScope trust;
  std::vector<std::string> warnings;
  std::vector<std::string> without_external_id;  // who assumes it with none
};

void add_name(std::vector<std::string>& names, const std::string& name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// The index of the role with this ARN, added when new (an index: adding moves the others).
std::size_t role_of(std::vector<Role>& roles, const std::string& arn, const config::Config& cfg) {
  auto it = std::find_if(roles.begin(), roles.end(), [&](const Role& r) { return r.arn == arn; });
  if (it != roles.end()) return static_cast<std::size_t>(it - roles.begin());
  Role& fresh = roles.emplace_back();
  fresh.arn = arn;
  fresh.scope = {cfg.aws.region, aws::account_of(arn), {}, false, false, false, false, {}, true, {}};
  return roles.size() - 1;
}

// The actions a client may call and the guardrail it is held to, on a role that signs its calls.
void add_client(Role& role, const config::ClientConfig& client, bool discovery) {
  if (std::find(role.served.begin(), role.served.end(), client.name) != role.served.end()) return;
  role.served.push_back(client.name);
  const auto allows = [&](const char* op) {
    return client.operations.empty() ||
           std::find(client.operations.begin(), client.operations.end(), op) != client.operations.end();
  };
  role.scope.invoke = role.scope.invoke || allows("invoke") || allows("converse");
  role.scope.streaming = role.scope.streaming || allows("invoke-stream") || allows("converse-stream");
  role.scope.count_tokens = role.scope.count_tokens || allows("count-tokens");
  role.scope.discovery = role.scope.discovery || (discovery && allows("discovery"));
  if (client.guardrail) {
    role.scope.guardrails.emplace_back(client.guardrail->id, client.guardrail->version);
  } else {
    role.scope.every_client_guarded = false;
  }
}

// What `who`'s AssumeRole of this role sends: the External ID, a SourceIdentity, session tags.
void add_assumer(Role& role, const aws::RoleSettings& rs, const std::string& who) {
  if (rs.external_id.empty() && !rs.role_arn.empty()) role.without_external_id.push_back(who);
  if (!rs.external_id.empty()) add_name(role.trust.external_ids, rs.external_id);
  role.trust.source_identity = role.trust.source_identity || !rs.source_identity.empty();
  role.trust.tags = role.trust.tags || !rs.tags.empty();
}

// Whether a model the client may call could be one the route serves (as named or resolved).
bool reaches(const config::ClientConfig& client, const config::RouteConfig& rc, const gateway::ModelRoute& route) {
  for (const auto& allowed : client.models) {
    for (const auto* list : {&rc.match, &route.patterns}) {
      for (const auto& m : *list) {
        if (aws::patterns_overlap(allowed, m)) return true;
      }
    }
  }
  return false;
}

// Every route target's model in its region, on the role it signs with (SPEC §7); false, said
// on `err`, when the routes cannot be built.
bool add_routes(const config::Config& cfg, std::vector<Role>& roles, std::ostream& err) {
  // The same resolution serve matches with: aliases to their IDs, globs also to the aliases' IDs.
  auto table = gateway::RouteTable::build(cfg, {}, {});
  if (!table) {
    err << "iam-policy: " << table.message() << '\n';
    return false;
  }
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const config::RouteConfig& rc = cfg.routes[i];
    const gateway::ModelRoute& route = table->routes()[i];
    std::vector<const config::ClientConfig*> reaching;
    for (const auto& client : cfg.clients) {
      if (reaches(client, rc, route)) reaching.push_back(&client);
    }
    if (reaching.empty()) {
      err << "iam-policy: warning: no client's models allowlist admits a model of route " << rc.name
          << ", so its targets are granted nothing\n";
      continue;
    }
    for (const auto& target : route.targets) {
      const std::vector<std::string> models =
          target.model.empty() ? route.patterns : std::vector<std::string>{target.model};
      std::vector<std::size_t> signers;
      if (target.identity == "default") {
        for (const auto* client : reaching) {
          signers.push_back(role_of(roles, (client->aws ? *client->aws : cfg.aws.role).role_arn, cfg));
        }
      } else {
        const auto id = std::find_if(cfg.identities.begin(), cfg.identities.end(),
                                     [&](const config::IdentityConfig& c) { return c.name == target.identity; });
        if (id == cfg.identities.end()) continue;  // the parser refuses this
        signers.push_back(role_of(roles, id->role.role_arn, cfg));
        Role& role = roles[signers.back()];
        if (std::find(role.identities.begin(), role.identities.end(), id->name) == role.identities.end()) {
          role.identities.push_back(id->name);
          add_assumer(role, id->role, "identity " + id->name);
        }
        for (const auto* client : reaching) add_client(role, *client, false);
      }
      for (const std::size_t r : signers) {
        auto& routed = roles[r].scope.routed;
        add_name(roles[r].routes, rc.name);
        for (const auto& m : models) {
          const bool known = std::any_of(routed.begin(), routed.end(), [&](const aws::RegionalModel& g) {
            return g.pattern == m && g.region == target.region;
          });
          if (!known) routed.push_back({m, target.region});
        }
      }
    }
  }
  return true;
}

}  // namespace

int run_iam_policy(const IamPolicyArgs& args, const Environment& env, std::ostream& out, std::ostream& err) {
  auto cfg = config::load_config(args.config, env);
  if (!cfg) {
    err << cfg.message() << '\n';
    return kExitUsage;
  }
  std::vector<Role> roles;
  for (const auto& client : cfg->clients) {
    const aws::RoleSettings& rs = client.aws ? *client.aws : cfg->aws.role;
    Role& role = roles[role_of(roles, rs.role_arn, *cfg)];
    role.clients.push_back(client.name);
    add_assumer(role, rs, client.name);
    add_client(role, client, cfg->discovery);
    role.scope.models.insert(role.scope.models.end(), client.models.begin(), client.models.end());
    for (const auto& [model, runtime] : cfg->openai_models) {
      for (const auto& allowed : client.models) {
        role.scope.mantle = role.scope.mantle || (!runtime && aws::model_pattern_match(allowed, model));
      }
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
  if (!add_routes(*cfg, roles, err)) return kExitUsage;
  if (!args.role.empty()) {
    // "base": the clients that sign with the base credentials themselves (no role_arn).
    const std::string wanted = args.role == "base" ? std::string() : args.role;
    std::erase_if(roles, [&](const Role& r) { return r.arn != wanted; });
    if (roles.empty()) {
      err << "iam-policy: no client uses the role " << args.role << ", nor does an identity; the config's roles:";
      for (const auto& client : cfg->clients) {
        err << ' ' << (client.aws ? client.aws->role_arn : cfg->aws.role.role_arn);
      }
      for (const auto& id : cfg->identities) err << ' ' << id.role.role_arn;
      err << '\n';
      return kExitUsage;
    }
  }
  for (auto& role : roles) {
    if (!role.without_external_id.empty() && !role.trust.external_ids.empty()) {
      // The trust policy demands an External ID, so these AssumeRole calls would be denied.
      role.warnings.push_back("iam-policy: warning: " + role.arn +
                              " is assumed with an External ID by some clients or identities "
                              "and without one by " +
                              joined(role.without_external_id) +
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
    std::string users;
    if (!role.clients.empty()) users += " — clients: " + joined(role.clients);
    if (!role.identities.empty()) users += " — identity " + joined(role.identities);
    if (!role.routes.empty()) users += " — routes: " + joined(role.routes);
    out << "# Role " << (role.arn.empty() ? "(none: the base identity signs directly)" : role.arn) << users
        << "\n# Permissions policy (alone: --role " << role.arn << " --kind permissions)\n"
        << aws::permissions_policy(role.scope).dump(2) << '\n';
    if (!role.arn.empty()) {
      out << "# Trust policy (alone: --role " << role.arn << " --kind trust --principal ARN)\n"
          << aws::trust_policy(principal, role.trust).dump(2) << '\n';
      if (role.trust.external_ids.empty()) {
        err << "iam-policy: " << role.arn << " has no External ID; set one ("
            << (role.clients.empty() ? "identities.NAME.external_id" : "aws.external_id")
            << ") so that only signgate can assume it\n";
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
