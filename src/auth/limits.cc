#include "auth/limits.h"

#include <algorithm>
#include <cmath>

namespace signgate::auth {

namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;

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
  }
}

std::optional<Denial> ClientLimiter::admit(SteadyTime now, SystemTime wall) {
  std::lock_guard lock(mutex_);
  if (settings_.tokens_per_day) {
    roll_day(wall);
    if (spent_today_ >= *settings_.tokens_per_day) {
      const SystemTime reset = next_utc_midnight(wall);
      return Denial{429,
                    "the daily token budget of " + std::to_string(*settings_.tokens_per_day) +
                        " tokens for this key is spent; it resets at " + format_iso8601(reset),
                    at_least_one_second(std::chrono::duration<double>(reset - wall).count()), "insufficient_quota"};
    }
  }
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

void ClientLimiter::charge(std::uint64_t tokens, SteadyTime now, SystemTime wall) {
  if (tokens == 0) return;
  const auto n = static_cast<std::int64_t>(std::min<std::uint64_t>(tokens, 1ull << 52));
  std::lock_guard lock(mutex_);
  if (settings_.tokens_per_minute) {
    tokens_.refill(now);
    tokens_.level -= static_cast<double>(n);
  }
  if (settings_.tokens_per_day) {
    roll_day(wall);
    spent_today_ += n;
  }
}

void ClientLimiter::sync_spent_today(std::int64_t spent, SystemTime wall) {
  std::lock_guard lock(mutex_);
  if (!settings_.tokens_per_day) return;
  roll_day(wall);
  // Within a day spending only grows: a reply that left Redis before a later charge (they
  // arrive in any order) must not step it back.
  spent_today_ = std::max(spent_today_, spent);
}

std::optional<std::int64_t> ClientLimiter::budget_remaining(SystemTime wall) const {
  std::lock_guard lock(mutex_);
  if (!settings_.tokens_per_day) return std::nullopt;
  roll_day(wall);
  return std::max<std::int64_t>(0, *settings_.tokens_per_day - spent_today_);
}

}  // namespace signgate::auth
