#include "auth/clients.h"

#include <algorithm>
#include <cmath>

#include "aws/sts.h"
#include "common/strings.h"

namespace signgate::auth {

bool Client::allows_operation(Operation op) const {
  // Without a list, every operation but async-invoke: StartAsyncInvoke has Bedrock write to an
  // S3 location the caller names, so a client gets it only when its list says so.
  if (operations.empty()) return op != Operation::kAsyncInvoke;
  return std::find(operations.begin(), operations.end(), op) != operations.end();
}

bool Client::allows_model(std::string_view model_id) const {
  return std::any_of(models.begin(), models.end(),
                     [&](const std::string& pattern) { return model_pattern_match(pattern, model_id); });
}

ClientTable ClientTable::from_config(const config::Config& cfg, const ClientTable* previous) {
  ClientTable table;
  for (const auto& c : cfg.clients) {
    Client client;
    client.name = c.name;
    for (const auto& hash : c.secret_sha256) {
      if (auto d = digest_from_hex(hash)) client.secret_sha256.push_back(*d);
    }
    client.models = c.models;
    for (const auto& name : c.operations) {
      if (auto op = aws::operation_from_name(name)) client.operations.push_back(*op);
    }
    client.expires_at = c.expires_at;
    client.guardrail = c.guardrail;
    client.role = c.aws ? *c.aws : cfg.aws.role;
    // Unless the config names a session, each client gets its own, for CloudTrail.
    const bool own_session = c.aws && c.aws->session_name != cfg.aws.role.session_name;
    if (!own_session && !client.role.role_arn.empty()) {
      client.role.session_name = aws::sanitize_session_name(cfg.aws.role.session_name + "-" + c.name);
    }
    client.request_metadata.assign(c.request_metadata.begin(), c.request_metadata.end());
    LimitSettings limits{c.requests_per_minute, c.tokens_per_minute, c.tokens_per_day, {}, {}};
    if (c.usd_per_day) limits.usd_per_day = to_nano_usd(*c.usd_per_day);
    if (c.usd_per_month) limits.usd_per_month = to_nano_usd(*c.usd_per_month);
    if (limits.any()) {
      const auto now = std::chrono::steady_clock::now();
      client.limiter = previous != nullptr ? previous->limiter_of(c.name) : nullptr;
      if (client.limiter) {
        client.limiter->reconfigure(limits, now);
      } else {
        client.limiter = std::make_shared<ClientLimiter>(limits, now);
      }
    }
    table.clients_.push_back(std::move(client));
  }
  return table;
}

const Client* ClientTable::authenticate(std::string_view secret) const {
  if (secret.empty()) return nullptr;
  const Digest presented = sha256(secret);
  const std::string_view p(reinterpret_cast<const char*>(presented.data()), presented.size());
  const Client* found = nullptr;
  for (const auto& c : clients_) {
    for (const auto& hash : c.secret_sha256) {
      const std::string_view s(reinterpret_cast<const char*>(hash.data()), hash.size());
      if (constant_time_equal(p, s)) found = &c;  // no early exit
    }
  }
  return found;
}

std::optional<Denial> ClientTable::identify(std::string_view secret, SystemTime now, const Client** client) const {
  const Client* c = authenticate(secret);
  if (client != nullptr) *client = c;
  if (c == nullptr) {
    return Denial{
        401, secret.empty() ? "missing API key: send Authorization: Bearer <secret> or x-api-key" : "invalid API key"};
  }
  if (c->expires_at && now >= *c->expires_at)
    return Denial{401, "API key expired at " + format_iso8601(*c->expires_at)};
  return std::nullopt;
}

std::optional<Denial> ClientTable::authorize(const Client& client, Operation op, std::string_view model_id) const {
  if (!client.allows_operation(op)) {
    return Denial{403, "operation " + std::string(operation_name(op)) + " is not allowed for this key"};
  }
  if (!model_id.empty() && !client.allows_model(model_id)) {
    return Denial{403, "model " + std::string(model_id) + " is not allowed for this key"};
  }
  return std::nullopt;
}

std::optional<Denial> ClientTable::check(std::string_view secret, Operation op, std::string_view model_id,
                                         SystemTime now, const Client** client) const {
  const Client* c = nullptr;
  auto denial = identify(secret, now, &c);
  if (client != nullptr) *client = c;
  if (denial) return denial;
  return authorize(*c, op, model_id);
}

std::shared_ptr<ClientLimiter> ClientTable::limiter_of(std::string_view name) const {
  for (const auto& c : clients_) {
    if (c.name == name) return c.limiter;
  }
  return nullptr;
}

std::variant<std::string_view, Denial> secret_from_headers(const std::vector<std::string_view>& authorization,
                                                           const std::vector<std::string_view>& x_api_key) {
  if (authorization.size() > 1) return Denial{400, "more than one Authorization header"};
  if (x_api_key.size() > 1) return Denial{400, "more than one x-api-key header"};
  const auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  if (authorization.empty()) return x_api_key.empty() ? std::string_view() : x_api_key.front();
  const std::string_view value = trim(authorization.front());
  if (value.size() < 7 || !iequals(value.substr(0, 7), "bearer ")) {
    return Denial{401, "unsupported Authorization scheme: send Authorization: Bearer <secret> or x-api-key"};
  }
  return trim(value.substr(7));
}

}  // namespace signgate::auth
