#include "gateway/routes.h"

#include "aws/model_pattern.h"

namespace signgate::gateway {

std::string target_endpoint(const config::Config& cfg, const config::TargetConfig& t) {
  if (!t.bedrock_endpoint.empty()) return t.bedrock_endpoint;
  if (t.region == cfg.aws.region) return cfg.aws.bedrock_url();
  return "https://bedrock-runtime." + t.region + ".amazonaws.com";
}

Result<RouteTable> RouteTable::build(const config::Config& cfg,
                                     const std::map<std::string, std::shared_ptr<aws::CredentialCache>>& client_default,
                                     const IdentityLookup& identity_of) {
  RouteTable table;
  for (const auto& rc : cfg.routes) {
    ModelRoute route;
    route.name = rc.name;
    route.strategy = rc.strategy;
    route.sticky = rc.sticky;
    route.fail_over_on = rc.fail_over_on;
    route.eject_after = rc.eject_after;
    route.eject_for = rc.eject_for;
    route.deadline = rc.deadline;
    // An alias stands for the ID it names; a glob also admits the IDs of the aliases it matches,
    // so a route matches what the caller named either way.
    for (const auto& m : rc.match) {
      const auto alias = cfg.models.find(m);
      route.match.push_back({m, alias != cfg.models.end()});
      if (alias != cfg.models.end()) {
        route.patterns.push_back(alias->second);
        continue;
      }
      route.patterns.push_back(m);
      for (const auto& [name, id] : cfg.models) {
        if (aws::glob_match(m, name)) route.patterns.push_back(id);
      }
    }
    for (const auto& tc : rc.targets) {
      RouteTarget t;
      t.name = tc.name;
      t.identity = tc.identity;
      t.region = tc.region;
      t.model = tc.model;
      t.weight = tc.weight;
      std::string error;
      auto url = http::parse_url(target_endpoint(cfg, tc), &error);
      if (!url) return make_error(cfg.source + ": route " + rc.name + ", target " + tc.name + ": " + error);
      t.endpoint = std::move(*url);
      const config::IdentityConfig* named = nullptr;
      for (const auto& id : cfg.identities) {
        if (id.name == tc.identity) named = &id;
      }
      for (const auto& [client, cache] : client_default) {
        t.credentials.emplace(client, named != nullptr ? identity_of(client, *named) : cache);
      }
      route.targets.push_back(std::move(t));
    }
    table.routes_.push_back(std::move(route));
  }
  return table;
}

const ModelRoute* RouteTable::match(std::string_view model, std::string_view asked) const {
  for (const auto& route : routes_) {
    for (const auto& m : route.match) {
      // An alias entry serves callers naming that alias; a glob, the ID and the caller's name.
      if (m.alias ? asked == m.text
                  : aws::model_pattern_match(m.text, model) || (!asked.empty() && aws::glob_match(m.text, asked))) {
        return &route;
      }
    }
  }
  return nullptr;
}

}  // namespace signgate::gateway
