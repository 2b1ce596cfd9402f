// What a client may spend, as the pipeline asks it (step 5) and charges it (step 8): per
// replica (each client's auth::ClientLimiter), or, with `redis:` configured, across every
// replica that shares the Redis: one atomic script per request admits it against the client's
// requests a minute, tokens a minute and daily budget, and one more charges an answer's tokens
// when it has ended. When Redis cannot answer within its command timeout, `on_failure: local`
// falls back to the replica's own limiter and `deny` refuses with 503.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>

#include "auth/clients.h"
#include "store/redis.h"

namespace signgate::gateway {

struct FleetStats;

class Limits {
 public:
  virtual ~Limits() = default;
  // Whether `client` may make one more request now; takes it when so.
  virtual boost::asio::awaitable<std::optional<auth::Denial>> admit(const auth::Client& client) = 0;
  // The tokens an answer used, charged to the client's token bucket and budget. Not awaited
  // by the caller: the answer has already gone.
  virtual void charge(const auth::Client& client, std::uint64_t tokens) = 0;
};

// Each replica on its own: the client's ClientLimiter.
std::unique_ptr<Limits> local_limits();

// Shared through Redis, one instance per event loop, on that loop's connection `redis`.
std::unique_ptr<Limits> redis_limits(const boost::asio::any_io_executor& executor, std::shared_ptr<store::Redis> redis,
                                     bool deny_on_failure, std::shared_ptr<FleetStats> stats);

}  // namespace signgate::gateway
