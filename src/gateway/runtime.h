// One configuration generation, immutable once built; a reload builds a new one and requests
// in flight keep the one they were authenticated against.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/anthropic/betas.h"
#include "auth/clients.h"
#include "aws/credentials/cache.h"
#include "config/config.h"
#include "gateway/routes.h"
#include "http/url.h"
#include "spend/pricing.h"

namespace signgate::gateway {

struct Runtime {
  config::Config config;
  auth::ClientTable clients;
  http::Url bedrock;          // base URL of bedrock-runtime
  http::Url bedrock_control;  // base URL of bedrock, the control plane (discovery)
  http::Url mantle;           // base URL of bedrock-mantle, for OpenAI-API models
  // Each distinct identity the clients sign with (role, External ID, session), in the order
  // the clients name them; aws.role itself is used only by the clients that inherit it.
  struct Identity {
    std::string role_session;  // as role_session() names it
    std::shared_ptr<aws::CredentialCache> cache;
    std::vector<std::string> clients;
    std::string route_identity;  // the name under identities:, for a route's; empty: a client's own
  };
  std::vector<Identity> identities;
  std::map<std::string, std::shared_ptr<aws::CredentialCache>> identity_by_client;
  // anthropic.betas' rules (by model glob), else Bedrock's documented betas per model family.
  api::anthropic::BetaPolicy anthropic_betas;
  RouteTable routes;  // routes:, each target's credentials per client
  // What answered calls cost: pricing: over the shipped table (spend/pricing.h).
  std::unique_ptr<const spend::Pricing> pricing;
};

// Builds a runtime from a validated config; each client's identity comes from `credentials`
// (started on first use, shared with the previous runtime when unchanged). Clients that stay
// keep their rate-limit state from `previous`, so a reload (logrotate's SIGHUP) resets nothing.
Result<std::shared_ptr<const Runtime>> build_runtime(config::Config cfg, aws::CredentialManager& credentials,
                                                     const Runtime* previous = nullptr);

// "ROLE_ARN/SESSION" as the audit log names an identity, or "base credentials".
std::string role_session(const aws::RoleSettings& role);

// Whether any identity holds credentials to sign with now; when none does, `why` says what
// each one lacks. One client's broken role must not take the others out of service.
bool any_identity_ready(const Runtime& rt, std::string* why);

}  // namespace signgate::gateway
