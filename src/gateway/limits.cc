#include "gateway/limits.h"

#include "gateway/fleet.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>

namespace signgate::gateway {

namespace asio = boost::asio;

namespace {

// Time is Redis's own (TIME), so replicas whose clocks differ still share one clock.
//
// Charging what answers used: the token bucket (a level that may go below empty, and its
// time) and today's spending. Shared by both scripts below. Returns today's spending.
constexpr const char* kChargeFunction = R"lua(
local function charge(bucket, day, tpm, budget, used, now)
  if tpm > 0 and used > 0 then
    local h = redis.call('HMGET', bucket, 'level', 'ts')
    local level, ts = tonumber(h[1]) or tpm, tonumber(h[2]) or now
    if now > ts then level = math.min(tpm, level + (now - ts) * tpm / 60000) else now = ts end
    redis.call('HSET', bucket, 'level', string.format('%.17g', level - used), 'ts', string.format('%.17g', now))
    redis.call('PEXPIRE', bucket, 120000 + math.ceil(math.max(0, used - level) * 60000 / tpm))
  end
  if budget <= 0 then return 0 end
  if used > 0 then
    local spent = redis.call('INCRBY', day, used)
    redis.call('EXPIRE', day, 172800)
    return spent
  end
  return tonumber(redis.call('GET', day) or '0')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
)lua";

// KEYS: requests (GCRA's theoretical arrival time), tokens bucket, today's spending. ARGV:
// requests a minute, tokens a minute, tokens a day (0: none), tokens earlier answers of this
// client used and not charged yet (the admission carries them: one round trip a request).
// Returns {verdict, wait ms, spent today}: 0 admitted (one request taken), 1 requests a
// minute, 2 tokens a minute, 3 the daily budget.
constexpr const char* kAdmitLua = R"lua(
local rpm, tpm, budget, used = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local spent = charge(KEYS[2], KEYS[3], tpm, budget, used, now)
if budget > 0 and spent >= budget then return {3, 0, spent} end
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
return charge(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), now)
)lua";

const store::RedisScript& admit_script() {
  static const store::RedisScript script(std::string(kChargeFunction) + kAdmitLua);
  return script;
}

const store::RedisScript& charge_script() {
  static const store::RedisScript script(std::string(kChargeFunction) + kChargeLua);
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
      : executor_(executor),
        redis_(std::move(redis)),
        deny_(deny),
        stats_(std::move(stats)),
        pending_(std::make_shared<Pending>(executor)) {}

  asio::awaitable<std::optional<auth::Denial>> admit(const auth::Client& client) override {
    if (!client.limiter) co_return std::nullopt;
    const auth::LimitSettings s = client.limiter->settings();
    const SystemTime wall = system_now();
    std::string day = day_key(client.name, wall);
    // What this client's earlier answers used and this loop has not charged yet goes with the
    // admission, if it is for the same day.
    std::uint64_t carried = 0;
    if (auto owed = pending_->owed.find(client.name); owed != pending_->owed.end() && owed->second.day == day) {
      carried = owed->second.tokens;
      pending_->owed.erase(owed);
    }
    std::vector<std::string> keys = {key(client.name, "requests"), key(client.name, "tokens"), std::move(day)};
    std::vector<std::string> args = {arg(s.requests_per_minute), arg(s.tokens_per_minute), arg(s.tokens_per_day),
                                     std::to_string(carried)};
    auto reply = co_await redis_->eval(admit_script(), std::move(keys), std::move(args));
    if (!reply && reply.kind() == ErrorKind::kUnreachable && carried > 0) {
      // Refused before it was sent (Redis down or backing off; or a failover's READONLY, which
      // refuses the admission's writes too): the tokens are still owed, not lost. A timeout may
      // have run the script, so those are not owed again (no double charge).
      owe(client, carried, wall, s);
    }
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
    owe(client, tokens, wall, s);
  }

  // After Fleet::drain(), serve keeps the loops running twice kCarryWindow past the last
  // request (Server::stop's settle), so nothing is owed by then.
  ~RedisLimits() override { pending_->timer.cancel(); }

 private:
  // Owed, not sent: the client's next admission on this loop carries it (one round trip a
  // request); what no admission has carried within kCarryWindow is charged on its own.
  void owe(const auth::Client& client, std::uint64_t tokens, SystemTime wall, const auth::LimitSettings& s) {
    std::string day = day_key(client.name, wall);
    auto [owed, fresh] = pending_->owed.try_emplace(client.name);
    if (!fresh && owed->second.day != day) {
      send_charge(owed->first, std::move(owed->second));  // yesterday's, charged to yesterday
      owed->second = Owed{};
    }
    Owed& o = owed->second;
    o.tokens += tokens;
    o.day = std::move(day);
    o.wall = wall;
    o.tokens_per_minute = s.tokens_per_minute.value_or(0);
    o.tokens_per_day = s.tokens_per_day.value_or(0);
    o.limiter = client.limiter;
    if (stats_->draining) {  // no next admission is coming: charge now
      send_charge(owed->first, std::move(o));
      pending_->owed.erase(owed);
      return;
    }
    if (!pending_->armed) {
      pending_->armed = true;
      pending_->timer.expires_after(kCarryWindow);
      pending_->timer.async_wait([weak = std::weak_ptr<Pending>(pending_), this](boost::system::error_code ec) {
        const auto alive = weak.lock();
        if (!alive || ec) return;
        alive->armed = false;
        flush();
      });
    }
  }

  // Tokens a client's answers used on this loop, not yet charged in Redis.
  struct Owed {
    std::uint64_t tokens = 0;
    std::string day;  // the day key they count against
    SystemTime wall{};
    std::int64_t tokens_per_minute = 0, tokens_per_day = 0;
    std::shared_ptr<auth::ClientLimiter> limiter;
  };
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    std::map<std::string, Owed, std::less<>> owed;
    asio::steady_timer timer;
    bool armed = false;
  };
  // Long enough that a busy client's charges ride on its next admissions, short enough that
  // the fleet's buckets and budgets lag by no more than this.
  static constexpr std::chrono::milliseconds kCarryWindow = Fleet::kCarryWindow;

  void flush() {
    auto owed = std::move(pending_->owed);
    pending_->owed.clear();
    for (auto& [client, o] : owed) send_charge(client, std::move(o));
  }

  void send_charge(const std::string& client, Owed o) {
    if (o.tokens == 0) return;
    asio::co_spawn(executor_, charge_later(redis_, stats_, std::weak_ptr<Pending>(pending_), client, std::move(o)),
                   asio::detached);
  }

  static std::string day_key(std::string_view client, SystemTime wall) {
    return key(client, "day:" + std::to_string(auth::utc_day(wall)));
  }

  // Charges what `o` owes on its own. Refused before it was sent (Redis down or backing off),
  // the tokens are owed again, to ride on the client's next admission or charge; other failures
  // may have run the script, so they are not (no double charge).
  static asio::awaitable<void> charge_later(std::shared_ptr<store::Redis> redis, std::shared_ptr<FleetStats> stats,
                                            std::weak_ptr<Pending> pending, std::string client, Owed o) {
    std::vector<std::string> keys = {key(client, "tokens"), o.day};
    std::vector<std::string> args = {std::to_string(o.tokens_per_minute), std::to_string(o.tokens_per_day),
                                     std::to_string(o.tokens)};
    auto reply = co_await redis->eval(charge_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) {
      ++stats->redis_failures;
      if (!reply && reply.kind() == ErrorKind::kUnreachable) {
        if (const auto p = pending.lock()) {
          auto [owed, fresh] = p->owed.try_emplace(client);
          if (fresh || owed->second.day == o.day) {
            o.tokens += owed->second.tokens;
            owed->second = std::move(o);
          }
        }
      }
    } else if (reply->type == store::Reply::Type::kInteger && o.limiter->settings().tokens_per_day) {
      o.limiter->sync_spent_today(reply->integer, o.wall);
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
  std::shared_ptr<Pending> pending_;
};

}  // namespace

std::unique_ptr<Limits> local_limits() { return std::make_unique<LocalLimits>(); }

std::unique_ptr<Limits> redis_limits(const asio::any_io_executor& executor, std::shared_ptr<store::Redis> redis,
                                     bool deny_on_failure, std::shared_ptr<FleetStats> stats) {
  return std::make_unique<RedisLimits>(executor, std::move(redis), deny_on_failure, std::move(stats));
}

}  // namespace signgate::gateway
