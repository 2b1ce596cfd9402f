#include "auth/limits.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

namespace signgate::auth {

namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;

// Sums that stop at the largest count instead of wrapping (a hostile upstream's counts).
std::int64_t saturated_add(std::int64_t a, std::int64_t b) {
  return a > std::numeric_limits<std::int64_t>::max() - b ? std::numeric_limits<std::int64_t>::max() : a + b;
}

std::chrono::seconds at_least_one_second(double seconds) {
  return std::chrono::seconds(std::max<long long>(1, static_cast<long long>(std::ceil(seconds))));
}

}  // namespace

std::int64_t utc_day(SystemTime t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return s >= 0 ? s / kSecondsPerDay : (s - kSecondsPerDay + 1) / kSecondsPerDay;
}

SystemTime next_utc_midnight(SystemTime t) {
  return SystemTime(std::chrono::seconds((utc_day(t) + 1) * kSecondsPerDay));
}

namespace {
std::chrono::year_month_day civil(SystemTime t) {
  return std::chrono::year_month_day(std::chrono::sys_days(std::chrono::days(utc_day(t))));
}
}  // namespace

std::int64_t utc_month(SystemTime t) {
  const auto ymd = civil(t);
  return static_cast<std::int64_t>(static_cast<int>(ymd.year())) * 12 + static_cast<unsigned>(ymd.month()) - 1;
}

SystemTime next_utc_month(SystemTime t) {
  const auto ymd = civil(t);
  const std::chrono::year_month_day first = (ymd.year() / ymd.month() / 1) + std::chrono::months(1);
  return SystemTime(std::chrono::sys_days(first).time_since_epoch());
}

std::string utc_date(SystemTime t) { return format_iso8601(t).substr(0, 10); }

std::string utc_month_name(SystemTime t) { return format_iso8601(t).substr(0, 7); }

NanoUsd to_nano_usd(double usd) {
  if (!(usd > 0)) return 0;
  // At most 2^50 nano-dollars (about a million dollars) a call: sums stay exact in a double,
  // as Redis's Lua counts them.
  if (!(usd < 1e6)) return 1ll << 50;
  return static_cast<NanoUsd>(std::min(std::llround(usd * kNanoPerUsd), 1ll << 50));
}

std::string format_usd(NanoUsd amount) {
  char buf[48];
  const double usd = static_cast<double>(amount) / kNanoPerUsd;
  if (amount % 10'000'000 == 0 || usd >= 100) {
    std::snprintf(buf, sizeof buf, "$%.2f", usd);
  } else {
    std::snprintf(buf, sizeof buf, "$%.9f", usd);
    std::string s(buf);
    while (s.back() == '0') s.pop_back();
    return s;
  }
  return buf;
}

namespace {

std::optional<Denial> budget_denial(std::string_view what, std::string_view budget, const std::string& amount,
                                    SystemTime reset, SystemTime wall) {
  std::string reason = "the ";
  reason += what;
  reason += " of ";
  reason += amount;
  reason += " for this key (budget.";
  reason += budget;
  reason += ") is spent; it resets at ";
  reason += format_iso8601(reset);
  return Denial{429, std::move(reason), at_least_one_second(std::chrono::duration<double>(reset - wall).count()),
                "insufficient_quota"};
}

}  // namespace

std::optional<Denial> spent_budget(const LimitSettings& s, std::int64_t tokens_today, NanoUsd usd_today,
                                   NanoUsd usd_this_month, SystemTime wall) {
  if (s.tokens_per_day && tokens_today >= *s.tokens_per_day) {
    return budget_denial("daily token budget", "tokens_per_day", std::to_string(*s.tokens_per_day) + " tokens",
                         next_utc_midnight(wall), wall);
  }
  if (s.usd_per_day && usd_today >= *s.usd_per_day) {
    return budget_denial("daily budget", "usd_per_day", format_usd(*s.usd_per_day), next_utc_midnight(wall), wall);
  }
  if (s.usd_per_month && usd_this_month >= *s.usd_per_month) {
    return budget_denial("monthly budget", "usd_per_month", format_usd(*s.usd_per_month), next_utc_month(wall), wall);
  }
  return std::nullopt;
}

void ClientLimiter::Bucket::refill(SteadyTime now) {
  const double elapsed = std::chrono::duration<double>(now - last).count();
  if (elapsed > 0) {
    level = std::min(capacity, level + elapsed * per_second);
    last = now;
  }
}

ClientLimiter::ClientLimiter(const LimitSettings& settings, SteadyTime now) {
  settings_ = settings;
  if (settings.requests_per_minute) {
    const auto n = static_cast<double>(*settings.requests_per_minute);
    requests_ = {n, n / 60.0, n, now};
  }
  if (settings.tokens_per_minute) {
    const auto n = static_cast<double>(*settings.tokens_per_minute);
    tokens_ = {n, n / 60.0, n, now};
  }
}

void ClientLimiter::reconfigure(const LimitSettings& settings, SteadyTime now) {
  std::lock_guard lock(mutex_);
  const auto adjust = [now](Bucket& b, const std::optional<std::int64_t>& was, const std::optional<std::int64_t>& is) {
    if (!is || was == is) return;  // unchanged: what was spent stays spent
    const auto n = static_cast<double>(*is);
    b = {n, n / 60.0, n, now};  // a new or changed limit starts afresh, as the operator meant it
  };
  adjust(requests_, settings_.requests_per_minute, settings.requests_per_minute);
  adjust(tokens_, settings_.tokens_per_minute, settings.tokens_per_minute);
  settings_ = settings;
}

LimitSettings ClientLimiter::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

void ClientLimiter::roll_day(SystemTime wall) const {
  const std::int64_t today = utc_day(wall);
  if (today != day_) {
    day_ = today;
    spent_today_ = 0;
    usd_today_ = 0;
  }
  const std::int64_t month = utc_month(wall);
  if (month != month_) {
    month_ = month;
    usd_this_month_ = 0;
  }
}

std::optional<Denial> ClientLimiter::admit(SteadyTime now, SystemTime wall) {
  std::lock_guard lock(mutex_);
  roll_day(wall);
  if (auto spent = spent_budget(settings_, spent_today_, usd_today_, usd_this_month_, wall)) return spent;
  if (settings_.tokens_per_minute) {
    tokens_.refill(now);
    if (tokens_.level <= 0) {
      // Back once the bucket is above empty again.
      return Denial{429,
                    "token rate limit of " + std::to_string(*settings_.tokens_per_minute) +
                        " tokens a minute exceeded for this key",
                    at_least_one_second((-tokens_.level + 1) / tokens_.per_second), "rate_limit_exceeded"};
    }
  }
  if (settings_.requests_per_minute) {
    requests_.refill(now);
    if (requests_.level < 1.0) {
      return Denial{429, "rate limit exceeded for this key",
                    at_least_one_second((1.0 - requests_.level) / requests_.per_second), "rate_limit_exceeded"};
    }
    requests_.level -= 1.0;
  }
  return std::nullopt;
}

void ClientLimiter::charge(std::uint64_t tokens, NanoUsd usd, SteadyTime now, SystemTime wall) {
  if (tokens == 0 && usd <= 0) return;
  const auto n = static_cast<std::int64_t>(std::min<std::uint64_t>(tokens, 1ull << 52));
  std::lock_guard lock(mutex_);
  if (settings_.tokens_per_minute) {
    tokens_.refill(now);
    tokens_.level -= static_cast<double>(n);
  }
  roll_day(wall);
  spent_today_ = saturated_add(spent_today_, n);
  if (usd > 0) {
    usd_today_ = saturated_add(usd_today_, usd);
    usd_this_month_ = saturated_add(usd_this_month_, usd);
  }
}

void ClientLimiter::sync_spent(const Spent& spent, SystemTime wall) {
  std::lock_guard lock(mutex_);
  roll_day(wall);
  // Within a day (a month) spending only grows: a reply that left Redis before a later charge
  // (they arrive in any order) must not step it back.
  if (spent.tokens_today) spent_today_ = std::max(spent_today_, *spent.tokens_today);
  if (spent.usd_today) usd_today_ = std::max(usd_today_, *spent.usd_today);
  if (spent.usd_this_month) usd_this_month_ = std::max(usd_this_month_, *spent.usd_this_month);
}

BudgetLeft ClientLimiter::budget_left(SystemTime wall) const {
  std::lock_guard lock(mutex_);
  roll_day(wall);
  BudgetLeft left;
  if (settings_.tokens_per_day) left.tokens_today = std::max<std::int64_t>(0, *settings_.tokens_per_day - spent_today_);
  if (settings_.usd_per_day) left.usd_today = std::max<NanoUsd>(0, *settings_.usd_per_day - usd_today_);
  if (settings_.usd_per_month) left.usd_this_month = std::max<NanoUsd>(0, *settings_.usd_per_month - usd_this_month_);
  return left;
}

}  // namespace signgate::auth
