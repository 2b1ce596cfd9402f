// The routes of one configuration generation (SPEC §7), ready to serve: each target with its
// endpoint, its region and, per client, the credentials it signs with. Built with the runtime,
// immutable after; what changes while serving (ejections, stickiness) lives in route_state.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/credentials/cache.h"
#include "common/result.h"
#include "config/config.h"
#include "http/url.h"

namespace signgate::gateway {

struct RouteTarget {
  std::string name;      // the config's, or identity/region[/model]
  std::string identity;  // "default" or a name under identities:
  std::string region;
  std::string model;  // empty: the model as asked
  std::uint32_t weight = 1;
  http::Url endpoint;
  // The credentials each client signs with here: its own identity's for "default", else a
  // session of the named identity's role per client (CloudTrail names the client).
  std::map<std::string, std::shared_ptr<aws::CredentialCache>, std::less<>> credentials;

  // The model this target sends for a call that asked for `asked`.
  const std::string& model_for(const std::string& asked) const { return model.empty() ? asked : model; }
};

struct ModelRoute {
  std::string name;
  struct MatchEntry {
    std::string text;    // as the config has it
    bool alias = false;  // a name from models: (matched by the caller's name only), else a glob
  };
  std::vector<MatchEntry> match;
  std::vector<std::string> patterns;  // the model IDs it can send: globs, aliases resolved to their IDs
  config::Strategy strategy = config::Strategy::kPriority;
  config::Sticky sticky = config::Sticky::kNone;
  std::vector<RouteTarget> targets;
  unsigned fail_over_on = config::kDefaultFailOver;
  int eject_after = 3;
  std::chrono::seconds eject_for{30};
  std::chrono::milliseconds deadline{120'000};
};

class RouteTable {
 public:
  RouteTable() = default;
  // `identity_of(client, identity)` makes or finds the credential cache a client uses for a
  // named identity (the default identity is `client_default`'s).
  using IdentityLookup = std::function<std::shared_ptr<aws::CredentialCache>(const std::string& client,
                                                                             const config::IdentityConfig& identity)>;
  static Result<RouteTable> build(const config::Config& cfg,
                                  const std::map<std::string, std::shared_ptr<aws::CredentialCache>>& client_default,
                                  const IdentityLookup& identity_of);

  // The first route with a match entry that admits the caller's model name `asked` (an alias;
  // may be empty) or the ID `model` it resolves to; null when none does.
  const ModelRoute* match(std::string_view model, std::string_view asked = {}) const;
  const std::vector<ModelRoute>& routes() const { return routes_; }
  bool empty() const { return routes_.empty(); }

 private:
  std::vector<ModelRoute> routes_;
};

// The regional Bedrock runtime URL for a target with no endpoint of its own: aws:'s endpoint
// in aws:'s region (a VPC endpoint, say), else https://bedrock-runtime.{region}.amazonaws.com.
std::string target_endpoint(const config::Config& cfg, const config::TargetConfig& t);

}  // namespace signgate::gateway
