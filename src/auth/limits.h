// What one client may spend: requests a minute, tokens a minute and tokens a day (its budget,
// reset at 00:00 UTC). The minute limits are buckets that hold one minute's allowance, may be
// spent at once and refill continuously. Tokens are known only once an answer has ended, so
// they are charged then: a request is admitted while the token bucket is not empty and the
// budget not spent, and the answer that overdraws them is not cut short; the next request
// waits until the bucket is back above empty, or until midnight UTC for the budget.
// Pure apart from a mutex: callers pass both clocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "common/time.h"

namespace signgate::auth {

using SteadyTime = std::chrono::steady_clock::time_point;

// Why a request was refused, as the gateway reports it.
struct Denial {
  unsigned status;     // 401, 403, 429
  std::string reason;  // safe to show the caller and the audit log
  std::chrono::seconds retry_after{0};
  std::string code = {};  // OpenAI's error code, if any ("rate_limit_exceeded", "insufficient_quota")
};

struct LimitSettings {
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> tokens_per_day;
  bool any() const { return requests_per_minute || tokens_per_minute || tokens_per_day; }
  bool operator==(const LimitSettings&) const = default;
};

// The day a budget counts in: whole days since the epoch, UTC.
std::int64_t utc_day(SystemTime t);
// When the budget of `t`'s day resets: the next 00:00 UTC.
SystemTime next_utc_midnight(SystemTime t);

class ClientLimiter {
 public:
  ClientLimiter(const LimitSettings& settings, SteadyTime now);

  // New limits for the same client (a reload): an unchanged minute limit keeps its bucket (a
  // reload is not a refill), a new or changed one starts full; the day's budget spent stays spent.
  void reconfigure(const LimitSettings& settings, SteadyTime now);
  LimitSettings settings() const;

  // One request, if every limit allows it now; else the first limit that does not, with when
  // to come back (at least 1 s).
  std::optional<Denial> admit(SteadyTime now, SystemTime wall);
  // The tokens an answer used, charged to the token bucket and to the day's budget.
  void charge(std::uint64_t tokens, SteadyTime now, SystemTime wall);
  // What the fleet says today's spending is (the shared store's count): this replica's view
  // follows it, for the metric and for when it has to decide alone.
  void sync_spent_today(std::int64_t spent, SystemTime wall);
  // Tokens left in today's budget (never below 0); nullopt without a budget.
  std::optional<std::int64_t> budget_remaining(SystemTime wall) const;

 private:
  struct Bucket {
    double capacity = 0, per_second = 0, level = 0;
    SteadyTime last;
    void refill(SteadyTime now);
  };
  void roll_day(SystemTime wall) const;

  mutable std::mutex mutex_;
  LimitSettings settings_;
  Bucket requests_, tokens_;
  mutable std::int64_t day_ = 0;
  mutable std::int64_t spent_today_ = 0;
};

}  // namespace signgate::auth
