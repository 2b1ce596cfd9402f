// Who may call signgate, and for what: client secrets (stored only as SHA-256, compared in
// constant time), model allowlists (globs), operations, expiry, and what each client may spend
// (auth/limits.h). Pure; no I/O.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/limits.h"
#include "aws/bedrock_operation.h"
#include "aws/model_pattern.h"
#include "aws/role.h"
#include "common/crypto.h"
#include "common/time.h"
#include "config/config.h"

namespace signgate::auth {

using aws::Operation;

// Allowlist patterns (aws/model_pattern.h): globs over model IDs, field by field over ARNs.
using aws::glob_match;
using aws::model_pattern_match;

struct Client {
  std::string name;
  std::vector<Digest> secret_sha256;  // any of them authenticates (several while a key rotates)
  std::vector<std::string> models;
  std::vector<Operation> operations;  // empty: all
  std::optional<SystemTime> expires_at;
  aws::RoleSettings role;                            // whom to be towards AWS for this client
  std::shared_ptr<ClientLimiter> limiter;            // null: no limits
  std::optional<config::GuardrailConfig> guardrail;  // put on every call this client makes
  // Stamped into Bedrock's request metadata of every call (config's request_metadata), sorted by key.
  std::vector<std::pair<std::string, std::string>> request_metadata;

  bool allows_operation(Operation op) const;
  // Some entry of `models` admits it (model_pattern_match).
  bool allows_model(std::string_view model_id) const;
};

class ClientTable {
 public:
  // Builds the table from a validated config; each client's role defaults to aws: with the
  // session name "signgate-<client>" so CloudTrail tells clients apart. A client that
  // `previous` (the table being replaced on reload) has under the same name keeps its limiter,
  // reconfigured (ClientLimiter::reconfigure), so a reload refills nothing it did not change.
  static ClientTable from_config(const config::Config& cfg, const ClientTable* previous = nullptr);

  // The client whose secret this is, or nullptr. Every entry is compared (in constant time),
  // so the time taken does not depend on which one matched.
  const Client* authenticate(std::string_view secret) const;

  // Unknown or expired secret (401). `client` is set whenever the secret was known.
  std::optional<Denial> identify(std::string_view secret, SystemTime now, const Client** client) const;

  // For a client identify() accepted: operation or model not allowed (403). An empty model (a
  // call that names none: discovery, guardrails, async invocation status) is checked for the
  // operation only. What the client may spend is the gateway's to ask (gateway/limits.h).
  std::optional<Denial> authorize(const Client& client, Operation op, std::string_view model_id) const;

  // identify(), then authorize(). `client` is set whenever the secret was known, for the
  // audit log.
  std::optional<Denial> check(std::string_view secret, Operation op, std::string_view model_id, SystemTime now,
                              const Client** client) const;

  const std::vector<Client>& clients() const { return clients_; }

 private:
  // The limiter of the client `name`, else null.
  std::shared_ptr<ClientLimiter> limiter_of(std::string_view name) const;

  std::vector<Client> clients_;
};

// The secret a request carries, given every value of its Authorization and x-api-key fields:
// "Authorization: Bearer X" or "x-api-key: X", exactly one way. Two of either field are a 400
// rather than a guess between them, and another scheme (Basic, AWS4-HMAC-SHA256) is a 401,
// never a fallback to x-api-key. No header at all is the empty secret (identify() says 401).
std::variant<std::string_view, Denial> secret_from_headers(const std::vector<std::string_view>& authorization,
                                                           const std::vector<std::string_view>& x_api_key);

}  // namespace signgate::auth
