#include "gateway/async_invocations.h"

#include <algorithm>

#include "common/crypto.h"

namespace signgate::gateway {

std::string AsyncInvocations::record(const std::string& invocation_arn, const std::string& client) {
  std::lock_guard lock(mutex_);
  const auto [it, added] = owner_.emplace(invocation_arn, client);
  if (!added) return it->second;
  order_.push_back(invocation_arn);
  while (order_.size() > capacity_) {
    owner_.erase(order_.front());
    order_.pop_front();
  }
  return client;
}

std::optional<std::string> AsyncInvocations::owner(const std::string& invocation_arn) const {
  std::lock_guard lock(mutex_);
  const auto it = owner_.find(invocation_arn);
  if (it == owner_.end()) return std::nullopt;
  return it->second;
}

std::size_t AsyncInvocations::size() const {
  std::lock_guard lock(mutex_);
  return owner_.size();
}

bool is_request_token(std::string_view token) {
  return !token.empty() && token.size() <= 256 &&
         std::all_of(token.begin(), token.end(), [](char c) { return c >= '!' && c <= '~'; });
}

// HMAC-SHA256 of the token under a key that is SHA-256 of a fixed label and the client's
// name. What matters is that two clients never meet on one upstream token, which rests on
// HMAC-SHA256's collision resistance, not on a secret: knowing how alice's tokens are made
// does not help bob, since whatever he sends is made into his. A key from nothing but the
// client's name is the same on every replica and across restarts with nothing to configure
// or share, and survives rotating the client's secret (a key from secret_sha256 would not:
// a retry across a rotation would start the invocation again). Renaming a client changes its
// tokens, as it changes everything else kept under its name.
std::string upstream_request_token(std::string_view client, std::string_view token) {
  std::string label = "signgate async-invoke clientRequestToken v1\n";
  label.append(client);
  const Digest key = sha256(label);
  return hex_lower(hmac_sha256(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), token));
}

}  // namespace signgate::gateway
