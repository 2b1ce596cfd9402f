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

// Money as the limits count it: whole nano-dollars (the finest a per-million price makes of one
// token), so sums are exact and the fleet's Redis adds integers.
using NanoUsd = std::int64_t;
constexpr double kNanoPerUsd = 1e9;
NanoUsd to_nano_usd(double usd);
// "$12.50" (cents; below a cent, up to nano-dollars: "$0.000042").
std::string format_usd(NanoUsd amount);

struct LimitSettings {
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> tokens_per_day;
  std::optional<NanoUsd> usd_per_day;    // nano-dollars a UTC day
  std::optional<NanoUsd> usd_per_month;  // nano-dollars a UTC calendar month
  bool any() const {
    return requests_per_minute || tokens_per_minute || tokens_per_day || usd_per_day || usd_per_month;
  }
  bool budgets_usd() const { return usd_per_day || usd_per_month; }
  bool operator==(const LimitSettings&) const = default;
};

// The day a budget counts in: whole days since the epoch, UTC.
std::int64_t utc_day(SystemTime t);
// When the budget of `t`'s day resets: the next 00:00 UTC.
SystemTime next_utc_midnight(SystemTime t);
// The calendar month a monthly budget counts in (UTC): year * 12 + month - 1.
std::int64_t utc_month(SystemTime t);
// When it resets: 00:00 UTC on the first of the next month.
SystemTime next_utc_month(SystemTime t);
// "YYYY-MM-DD" and "YYYY-MM" of `t` in UTC (the fleet's keys and `signgate usage` name days so).
std::string utc_date(SystemTime t);
std::string utc_month_name(SystemTime t);

// What is left of a client's budgets now (never below 0); nullopt where it has none.
struct BudgetLeft {
  std::optional<std::int64_t> tokens_today;
  std::optional<NanoUsd> usd_today;
  std::optional<NanoUsd> usd_this_month;
};

// What the fleet says has been spent (the shared store's counts), for ClientLimiter::sync_spent.
struct Spent {
  std::optional<std::int64_t> tokens_today;
  std::optional<NanoUsd> usd_today;
  std::optional<NanoUsd> usd_this_month;
};

// The 429 for the first spent budget (tokens_per_day, usd_per_day, usd_per_month, in that
// order), naming it and when it resets; nullopt while none is spent.
std::optional<Denial> spent_budget(const LimitSettings& s, std::int64_t tokens_today, NanoUsd usd_today,
                                   NanoUsd usd_this_month, SystemTime wall);

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
  // What an answer used, charged to the token bucket and to the day's and month's budgets.
  void charge(std::uint64_t tokens, NanoUsd usd, SteadyTime now, SystemTime wall);
  void charge(std::uint64_t tokens, SteadyTime now, SystemTime wall) { charge(tokens, 0, now, wall); }
  // What the fleet says has been spent (the shared store's counts): this replica's view follows
  // it, for the metric and for when it has to decide alone.
  void sync_spent(const Spent& spent, SystemTime wall);
  void sync_spent_today(std::int64_t spent, SystemTime wall) { sync_spent(Spent{spent, {}, {}}, wall); }
  // What is left of each budget the client has.
  BudgetLeft budget_left(SystemTime wall) const;
  // Tokens left in today's budget (never below 0); nullopt without a budget.
  std::optional<std::int64_t> budget_remaining(SystemTime wall) const { return budget_left(wall).tokens_today; }

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
  mutable std::int64_t day_ = 0, month_ = 0;
  mutable std::int64_t spent_today_ = 0;
  mutable NanoUsd usd_today_ = 0, usd_this_month_ = 0;
};

}  // namespace signgate::auth
