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
#include "spend/pricing.h"
#include "store/redis.h"

namespace signgate::gateway {

struct FleetStats;

// What an answer used, charged when it has ended.
struct Charge {
  std::uint64_t tokens = 0;  // what the token limits count: input, cache writes and output
  auth::NanoUsd usd = 0;     // what it cost (0 when unpriced)
  // For the fleet's per-day totals behind `signgate usage` (answered calls only): the model as
  // sent to Bedrock, what it used, and whether it had a price.
  bool answered = false;
  std::string_view model;
  spend::Usage usage;
  bool priced = false;
};

class Limits {
 public:
  virtual ~Limits() = default;
  // Whether `client` may make one more request now; takes it when so.
  virtual boost::asio::awaitable<std::optional<auth::Denial>> admit(const auth::Client& client) = 0;
  // What an answer used, charged to the client's token bucket and budgets (and, with Redis,
  // added to the fleet's per-day usage totals). Not awaited by the caller: the answer has gone.
  virtual void charge(const auth::Client& client, const Charge& charge) = 0;
};

// Each replica on its own: the client's ClientLimiter.
std::unique_ptr<Limits> local_limits();

// Shared through Redis, one instance per event loop, on that loop's connection `redis`.
std::unique_ptr<Limits> redis_limits(const boost::asio::any_io_executor& executor, std::shared_ptr<store::Redis> redis,
                                     bool deny_on_failure, std::shared_ptr<FleetStats> stats);

}  // namespace signgate::gateway
