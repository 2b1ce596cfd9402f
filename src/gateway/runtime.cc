#include "gateway/runtime.h"

#include <algorithm>

#include "api/anthropic/betas.h"
#include "aws/sts.h"

namespace signgate::gateway {

Result<std::shared_ptr<const Runtime>> build_runtime(config::Config cfg, aws::CredentialManager& credentials,
                                                     const Runtime* previous) {
  auto rt = std::make_shared<Runtime>();
  rt->pricing = std::make_unique<const spend::Pricing>(spend::shipped_prices(), cfg.pricing, cfg.model_families);
  std::string error;
  auto url = http::parse_url(cfg.aws.bedrock_url(), &error);
  if (!url) return make_error(cfg.source + ": aws.bedrock_endpoint: " + error);
  rt->bedrock = std::move(*url);
  auto control = http::parse_url(cfg.aws.bedrock_control_url(), &error);
  if (!control) return make_error(cfg.source + ": aws.bedrock_control_endpoint: " + error);
  rt->bedrock_control = std::move(*control);
  auto mantle = http::parse_url(cfg.aws.mantle_url(), &error);
  if (!mantle) return make_error(cfg.source + ": aws.mantle_endpoint: " + error);
  rt->mantle = std::move(*mantle);
  rt->clients = auth::ClientTable::from_config(cfg, previous != nullptr ? &previous->clients : nullptr);
  for (const auto& c : rt->clients.clients()) {
    auto cache = credentials.identity(c.role);
    rt->identity_by_client[c.name] = cache;
    auto same = std::find_if(rt->identities.begin(), rt->identities.end(),
                             [&](const Runtime::Identity& i) { return i.cache == cache; });
    if (same == rt->identities.end()) {
      rt->identities.push_back({role_session(c.role), cache, {}, {}});
      same = std::prev(rt->identities.end());
    }
    same->clients.push_back(c.name);
  }
  // Each client signs for a named identity with a session of its own (CloudTrail names it).
  const auto identity_of = [&](const std::string& client, const config::IdentityConfig& id) {
    aws::RoleSettings role = id.role;
    role.session_name = aws::sanitize_session_name(id.role.session_name + "-" + client);
    role.sts_region = id.region;
    role.sts_endpoint = id.sts_endpoint;
    auto cache = credentials.identity(role);
    auto same = std::find_if(rt->identities.begin(), rt->identities.end(),
                             [&](const Runtime::Identity& i) { return i.cache == cache; });
    if (same == rt->identities.end()) {
      rt->identities.push_back({role_session(role), cache, {}, id.name});
      same = std::prev(rt->identities.end());
    }
    same->clients.push_back(client);
    return cache;
  };
  auto routes = RouteTable::build(cfg, rt->identity_by_client, identity_of);
  if (!routes) return routes.error();
  rt->routes = std::move(*routes);
  std::vector<api::anthropic::BetaRule> beta_rules;
  for (const auto& rule : cfg.anthropic_betas.value_or(std::vector<config::BetaRule>{})) {
    beta_rules.push_back({rule.model, rule.betas});
  }
  rt->anthropic_betas = api::anthropic::BetaPolicy(beta_rules, cfg.model_families);
  rt->config = std::move(cfg);
  return std::shared_ptr<const Runtime>(std::move(rt));
}

std::string role_session(const aws::RoleSettings& role) {
  if (role.role_arn.empty()) return "base credentials";
  return role.role_arn + "/" + aws::sanitize_session_name(role.session_name);
}

bool any_identity_ready(const Runtime& rt, std::string* why) {
  std::string reasons;
  for (const auto& identity : rt.identities) {
    auto c = identity.cache->current();
    if (c) return true;
    if (!reasons.empty()) reasons += "; ";
    reasons += identity.role_session + ": " + c.message();
  }
  if (why != nullptr) *why = rt.identities.empty() ? "no clients are configured" : reasons;
  return false;
}

}  // namespace signgate::gateway
