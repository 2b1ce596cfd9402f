#include "gateway/limits.h"

#include "gateway/fleet.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <spdlog/spdlog.h>

#include <cmath>

namespace signgate::gateway {

namespace asio = boost::asio;

namespace {

// Time is Redis's own (TIME), so replicas whose clocks differ still share one clock.
// KEYS: requests (GCRA's theoretical arrival time), tokens (a bucket that may go below
// empty: level and time), today's spending. ARGV: requests a minute, tokens a minute, tokens a
// day (0: none). Returns {verdict, wait ms, spent today}: 0 admitted (one
// request taken), 1 requests a minute, 2 tokens a minute, 3 the daily budget.
constexpr const char* kAdmitLua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rpm, tpm, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local spent = 0
if budget > 0 then
  spent = tonumber(redis.call('GET', KEYS[3]) or '0')
  if spent >= budget then return {3, 0, spent} end
end
if tpm > 0 then
  local h = redis.call('HMGET', KEYS[2], 'level', 'ts')
  local level, ts = tonumber(h[1]) or tpm, tonumber(h[2]) or now
  if now > ts then level = math.min(tpm, level + (now - ts) * tpm / 60000) end
  if level <= 0 then return {2, math.ceil((1 - level) * 60000 / tpm), spent} end
end
if rpm > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local next_tat = tat + 60000 / rpm
  if next_tat - now > 60000 then return {1, math.ceil(next_tat - now - 60000), spent} end
  redis.call('SET', KEYS[1], string.format('%.17g', next_tat), 'PX', math.ceil(next_tat - now) + 1000)
end
return {0, 0, spent}
)lua";

// KEYS: tokens bucket, today's spending. ARGV: tokens a minute, tokens a day (0: none), the
// tokens used. Returns today's spending.
constexpr const char* kChargeLua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tpm, budget, used = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tpm > 0 then
  local h = redis.call('HMGET', KEYS[1], 'level', 'ts')
  local level, ts = tonumber(h[1]) or tpm, tonumber(h[2]) or now
  if now > ts then level = math.min(tpm, level + (now - ts) * tpm / 60000) else now = ts end
  redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level - used), 'ts', string.format('%.17g', now))
  redis.call('PEXPIRE', KEYS[1], 120000 + math.ceil(math.max(0, used - level) * 60000 / tpm))
end
local spent = 0
if budget > 0 then
  spent = redis.call('INCRBY', KEYS[2], used)
  redis.call('EXPIRE', KEYS[2], 172800)
end
return spent
)lua";

const store::RedisScript& admit_script() {
  static const store::RedisScript script(kAdmitLua);
  return script;
}

const store::RedisScript& charge_script() {
  static const store::RedisScript script(kChargeLua);
  return script;
}

std::string key(std::string_view client, std::string_view what) {
  // One hash tag per client: its keys stay on one shard of a Redis Cluster.
  return redis_prefix(client).append(what);
}

std::string arg(const std::optional<std::int64_t>& v) { return std::to_string(v.value_or(0)); }

class LocalLimits final : public Limits {
 public:
  asio::awaitable<std::optional<auth::Denial>> admit(const auth::Client& client) override {
    if (!client.limiter) co_return std::nullopt;
    co_return client.limiter->admit(std::chrono::steady_clock::now(), system_now());
  }
  void charge(const auth::Client& client, std::uint64_t tokens) override {
    if (client.limiter) client.limiter->charge(tokens, std::chrono::steady_clock::now(), system_now());
  }
};

class RedisLimits final : public Limits {
 public:
  RedisLimits(const asio::any_io_executor& executor, std::shared_ptr<store::Redis> redis, bool deny,
              std::shared_ptr<FleetStats> stats)
      : executor_(executor), redis_(std::move(redis)), deny_(deny), stats_(std::move(stats)) {}

  asio::awaitable<std::optional<auth::Denial>> admit(const auth::Client& client) override {
    if (!client.limiter) co_return std::nullopt;
    const auth::LimitSettings s = client.limiter->settings();
    const SystemTime wall = system_now();
    std::vector<std::string> keys = {key(client.name, "requests"), key(client.name, "tokens"),
                                     day_key(client.name, wall)};
    std::vector<std::string> args = {arg(s.requests_per_minute), arg(s.tokens_per_minute), arg(s.tokens_per_day)};
    auto reply = co_await redis_->eval(admit_script(), std::move(keys), std::move(args));
    if (!reply || reply->type != store::Reply::Type::kArray || reply->elements.size() != 3) {
      note_failure(reply ? (reply->is_error() ? reply->str : std::string("an unexpected reply")) : reply.message());
      if (deny_) {
        co_return auth::Denial{503, "signgate cannot reach its shared rate-limit store right now",
                               std::chrono::seconds(1), ""};
      }
      ++stats_->local_fallbacks;
      co_return client.limiter->admit(std::chrono::steady_clock::now(), wall);
    }
    stats_->redis_up = true;
    const long long verdict = reply->elements[0].integer;
    if (s.tokens_per_day) client.limiter->sync_spent_today(reply->elements[2].integer, wall);
    const auto wait = std::chrono::seconds(std::max<long long>(1, (reply->elements[1].integer + 999) / 1000));
    switch (verdict) {
      case 0: co_return std::nullopt;
      case 1: co_return auth::Denial{429, "rate limit exceeded for this key", wait, "rate_limit_exceeded"};
      case 2:
        co_return auth::Denial{
            429, "token rate limit of " + arg(s.tokens_per_minute) + " tokens a minute exceeded for this key", wait,
            "rate_limit_exceeded"};
      default: {
        const SystemTime reset = auth::next_utc_midnight(wall);
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(reset - wall) + std::chrono::seconds(1);
        co_return auth::Denial{429,
                               "the daily token budget of " + arg(s.tokens_per_day) +
                                   " tokens for this key is spent; it resets at " + format_iso8601(reset),
                               left, "insufficient_quota"};
      }
    }
  }

  void charge(const auth::Client& client, std::uint64_t tokens) override {
    if (!client.limiter || tokens == 0) return;
    const auth::LimitSettings s = client.limiter->settings();
    if (!s.tokens_per_minute && !s.tokens_per_day) return;
    // The replica's own limiter is charged too: it is what `on_failure: local` falls back to.
    const SystemTime wall = system_now();
    client.limiter->charge(tokens, std::chrono::steady_clock::now(), wall);
    std::vector<std::string> keys = {key(client.name, "tokens"), day_key(client.name, wall)};
    std::vector<std::string> args = {arg(s.tokens_per_minute), arg(s.tokens_per_day), std::to_string(tokens)};
    asio::co_spawn(executor_, charge_later(redis_, stats_, client.limiter, wall, std::move(keys), std::move(args)),
                   asio::detached);
  }

 private:
  static std::string day_key(std::string_view client, SystemTime wall) {
    return key(client, "day:" + std::to_string(auth::utc_day(wall)));
  }

  static asio::awaitable<void> charge_later(std::shared_ptr<store::Redis> redis, std::shared_ptr<FleetStats> stats,
                                            std::shared_ptr<auth::ClientLimiter> limiter, SystemTime wall,
                                            std::vector<std::string> keys, std::vector<std::string> args) {
    auto reply = co_await redis->eval(charge_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) {
      ++stats->redis_failures;
    } else if (reply->type == store::Reply::Type::kInteger && limiter->settings().tokens_per_day) {
      limiter->sync_spent_today(reply->integer, wall);
    }
  }

  void note_failure(const std::string& why) {
    ++stats_->redis_failures;
    stats_->redis_up = false;
    spdlog::debug("redis: admission not decided: {}", why);
  }

  asio::any_io_executor executor_;
  std::shared_ptr<store::Redis> redis_;
  bool deny_;
  std::shared_ptr<FleetStats> stats_;
};

}  // namespace

std::unique_ptr<Limits> local_limits() { return std::make_unique<LocalLimits>(); }

std::unique_ptr<Limits> redis_limits(const asio::any_io_executor& executor, std::shared_ptr<store::Redis> redis,
                                     bool deny_on_failure, std::shared_ptr<FleetStats> stats) {
  return std::make_unique<RedisLimits>(executor, std::move(redis), deny_on_failure, std::move(stats));
}

}  // namespace signgate::gateway
