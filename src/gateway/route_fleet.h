// Ejections shared by a fleet (SPEC §7, `redis:`): an ejection any replica decides is published
// on one channel and taken by every replica, so a throttled account is left alone fleet-wide
// within a round trip instead of each replica learning it by failing on its own.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string_view>

#include "gateway/route_state.h"
#include "store/redis.h"

namespace signgate::gateway {

inline constexpr std::string_view kEjectionChannel = "signgate:routes:ejections";

// "SECONDS KEY": a target ejected for SECONDS from now (durations, not times: replicas' clocks
// differ). Parsed back by parse_ejection; nullopt for anything else.
std::string ejection_message(std::string_view key, std::chrono::seconds length);
struct EjectionNews {
  std::string key;
  std::chrono::seconds length{0};
};
std::optional<EjectionNews> parse_ejection(std::string_view message);

// Publishes `health`'s ejections and adopts the fleet's, on `executor` (the control loop) with a
// Redis connection of its own, until stopped. `health` must outlive it.
class EjectionFollower {
 public:
  EjectionFollower(const boost::asio::any_io_executor& executor, store::RedisOptions options, TargetHealth& health);
  ~EjectionFollower();
  EjectionFollower(const EjectionFollower&) = delete;
  EjectionFollower& operator=(const EjectionFollower&) = delete;

  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
  TargetHealth& health_;
};

}  // namespace signgate::gateway
