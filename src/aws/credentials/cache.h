// Credentials held for signing: one cache per identity (role, external id, session name),
// refreshed in the background ahead of expiry by the credential thread, read by every
// event loop without waiting. If a refresh fails, the held credentials keep serving until
// they expire; then current() fails fast and status() reports not ready.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aws/credentials/provider.h"
#include "aws/role.h"
#include "aws/sts.h"
#include "http/client.h"

namespace signgate::aws {

// When to refresh credentials fetched at `fetched_at` that expire at `expiration`:
// `before` ahead of expiry; half-way through their life when they live shorter than that.
SystemTime refresh_time(SystemTime fetched_at, SystemTime expiration, std::chrono::seconds before);

// Delay before retry number `attempt` (1, 2, ...): exponential from `base`, capped at `cap`,
// with jitter from `unit_random` in [0, 1) so a fleet does not retry in step.
std::chrono::milliseconds retry_delay(int attempt, double unit_random,
                                      std::chrono::milliseconds base = std::chrono::seconds(1),
                                      std::chrono::milliseconds cap = std::chrono::seconds(30));

struct CacheStatus {
  bool ready = false;                    // credentials held and not expired
  std::optional<SystemTime> expiration;  // of the held credentials
  std::string source;                    // the provider's description
  std::string assumed_role_arn;
  std::string last_error;       // of the last failed attempt, cleared on success
  std::uint64_t refreshes = 0;  // successful fetches
  std::uint64_t failures = 0;   // failed fetches
};

class CredentialCache {
 public:
  CredentialCache(RoleSettings role, Clock clock, std::chrono::seconds expiry_margin);

  // The credentials to sign with now, or why there are none (never blocks).
  Result<std::shared_ptr<const Credentials>> current() const;
  CacheStatus status() const;
  const RoleSettings& role() const { return role_; }

  // Blocks the calling thread (never an event loop) until the first fetch has succeeded or
  // failed, or `timeout` passed; then returns current().
  Result<std::shared_ptr<const Credentials>> wait_first(std::chrono::milliseconds timeout) const;

  // Called by the refresh loop.
  void publish(Fetched fetched, std::string source);
  void fail(std::string error, std::string source);

 private:
  const RoleSettings role_;
  const Clock clock_;
  const std::chrono::seconds margin_;
  mutable std::mutex mutex_;
  mutable std::condition_variable first_done_;
  bool attempted_ = false;
  std::shared_ptr<const Credentials> credentials_;
  CacheStatus status_;
};

struct CredentialSettings {
  std::string region;
  std::string sts_endpoint;  // empty: regional STS
  std::chrono::seconds refresh_before{300};
  std::chrono::seconds expiry_margin{10};  // credentials this close to expiry count as expired
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_cap{30'000};
  http::ClientOptions http;
  std::shared_ptr<Provider> base;  // nullptr: the default chain
};

// Owns the credential thread: one event loop that runs every cache's refresh loop and the
// STS/IMDS/ECS calls. Base credentials are fetched once and shared by every role.
class CredentialManager {
 public:
  CredentialManager(CredentialSettings settings, Environment env, Clock clock = system_now);
  ~CredentialManager();
  CredentialManager(const CredentialManager&) = delete;
  CredentialManager& operator=(const CredentialManager&) = delete;

  // The cache for `role`, created and its refresh loop started on first use. Thread-safe.
  std::shared_ptr<CredentialCache> identity(const RoleSettings& role);

  // Stops the refresh loops and joins the thread (also done by the destructor).
  void stop();

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace signgate::aws
