// A fleet of replicas sharing one Redis (`redis:`): each event loop's one connection serves
// both what clients spend (limits.h) and what the gateway remembers (memory.h). FleetStats,
// counted by every loop and by the revocation follower, is what /metrics and /readyz show.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "gateway/limits.h"
#include "gateway/memory.h"
#include "store/redis.h"

namespace signgate::gateway {

// The start of every Redis key of `client`'s: "signgate:{NAME}:", NAME with '{', '}', '%' and
// control characters percent-encoded, so the hash tag always ends where the name does (one
// shard of a Redis Cluster holds all of a client's keys) and no two clients' keys can meet.
std::string redis_prefix(std::string_view client);

// The Redis client's options for `redis:`: its seed URLs parsed, the cluster setting, the CA
// file and the command timeout. Fails, saying why, on a URL that does not parse, on seeds that
// mix redis:// and rediss://, and on a database other than 0 where a cluster is meant
// (cluster: true, or a list of seeds), since a Redis Cluster has only database 0.
Result<store::RedisOptions> redis_options(const config::RedisConfig& config);

struct FleetStats {
  std::atomic<std::uint64_t> redis_failures{0};   // commands Redis did not answer as expected
  std::atomic<std::uint64_t> local_fallbacks{0};  // admissions decided by the replica's own limiter
  std::atomic<bool> redis_up{false};              // Redis's last answer (or silence), seen by any loop
  // Set when the replica starts stopping: token charges then go out at once instead of being
  // carried by the client's next admission (limits.cc), which will not come.
  std::atomic<bool> draining{false};
  // The cluster map, redirections: counted by every Redis client of the replica's.
  std::shared_ptr<store::RedisStats> redis = std::make_shared<store::RedisStats>();
};

struct FleetOptions {
  store::RedisOptions redis;
  bool deny_on_failure = false;  // on_failure: deny
};

class Fleet {
 public:
  explicit Fleet(FleetOptions options) : options_(std::move(options)), stats_(std::make_shared<FleetStats>()) {
    options_.redis.stats = stats_->redis;
  }

  // One loop's share: its own Redis connection, used by its Limits and its Memory.
  struct Loop {
    std::unique_ptr<Limits> limits;
    std::unique_ptr<Memory> memory;
  };
  Loop loop(const boost::asio::any_io_executor& executor, ResponseStore& responses,
            AsyncInvocations& invocations) const;

  const FleetOptions& options() const { return options_; }
  const std::shared_ptr<FleetStats>& stats() const { return stats_; }
  // Stops carrying token charges (see FleetStats::draining); what is owed goes out within
  // kCarryWindow, which the caller waits before stopping the loops.
  void drain() const { stats_->draining = true; }
  static constexpr std::chrono::milliseconds kCarryWindow{50};

  // The Redis the fleet shares, without its password: for logs and /readyz.
  std::string where() const {
    const std::size_t more = options_.redis.other_seeds.size();
    return options_.redis.url.redacted() + (more == 0 ? "" : " (and " + std::to_string(more) + " more seeds)");
  }

 private:
  FleetOptions options_;
  std::shared_ptr<FleetStats> stats_;
};

}  // namespace signgate::gateway
