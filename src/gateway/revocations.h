// Keys revoked across a fleet (`signgate revoke`): the SHA-256 of each revoked secret, kept in
// Redis (the set signgate:revoked, so a restart keeps it) and announced on the channel
// signgate:revocations. Each replica follows both from its control loop: the channel at once,
// the set's size every second, and the whole set when that changed, for what a lost
// subscription missed. A secret is checked against
// it on every request, right after the key is recognised.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "common/crypto.h"
#include "store/redis.h"

namespace signgate::gateway {

inline constexpr std::string_view kRevokedSet = "signgate:revoked";
inline constexpr std::string_view kRevocationChannel = "signgate:revocations";

class Revocations {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  // How long the set last read stays good while Redis does not answer (SPEC §10).
  static constexpr std::chrono::seconds kStaleAfter{5};

  // Whether anything is revoked at all: while nothing is, a request costs no hash and no lock.
  bool any() const { return any_.load(std::memory_order_acquire); }
  bool revoked(const Digest& secret_sha256) const;
  void add(const Digest& d);
  // The set as Redis holds it now; what was revoked stays revoked even if Redis lost it.
  void merge(const std::set<Digest>& all);
  std::size_t size() const;

  // The follower read the whole set, or found its size unchanged, at `at`.
  void mark_read(SteadyTime at);
  // A read failed (Redis did not answer).
  void mark_unread();
  // False once a read has failed and none succeeded within kStaleAfter of `now` (never read
  // and failed: false). Only failed reads make it stale: a control loop busy with a reload
  // does not.
  bool current(SteadyTime now) const;
  // on_failure: deny. A replica whose set is not current then refuses requests it would
  // judge (503) rather than accept secrets that may have been revoked since.
  void set_fail_closed(bool on) { fail_closed_ = on; }
  bool fails_closed() const { return fail_closed_; }

 private:
  std::atomic<std::int64_t> read_at_{-1};  // steady clock, ms; -1: never
  std::atomic<bool> failing_{false};       // a read failed since the last that succeeded
  bool fail_closed_ = false;
  mutable std::mutex mutex_;
  std::set<Digest> revoked_;
  std::atomic<bool> any_{false};
};

// Reads the revoked set once, on a loop of its own, within `timeout`, so a replica that starts
// refuses what was revoked before it from its first request. False, with why, when Redis did
// not answer (the follower keeps trying). A set read is marked read.
// `misconfigured` is set when `redis:` names something the client cannot use at all (a cluster
// node with a database other than 0): no use waiting for it.
bool load_revocations(const store::RedisOptions& options, Revocations& into, std::string* why,
                      bool* misconfigured = nullptr);

// Follows Redis on `executor` (the control loop) into `revocations` until the Redis client
// is stopped: subscribes to the channel and reads the set at once and every second. Each
// second's read tells `on_answer` whether Redis answered (the fleet's health, for /readyz).
class RevocationFollower {
 public:
  RevocationFollower(const boost::asio::any_io_executor& executor, store::RedisOptions options,
                     std::shared_ptr<Revocations> revocations, std::function<void(bool)> on_answer = {});
  ~RevocationFollower();
  RevocationFollower(const RevocationFollower&) = delete;
  RevocationFollower& operator=(const RevocationFollower&) = delete;

  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace signgate::gateway
