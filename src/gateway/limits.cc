#include "gateway/limits.h"

#include "gateway/fleet.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

#include <cmath>
#include <functional>
#include <map>

namespace signgate::gateway {

namespace asio = boost::asio;

namespace {

// Time is Redis's own (TIME), so replicas whose clocks differ still share one clock.
//
// Charging what answers used: the token bucket (a level that may go below empty, and its
// time), today's tokens (kept only under a daily token budget), today's and this month's USD
// in nano-dollars, and the day's usage totals per model that `signgate usage` reads. Shared by
// both scripts below. Returns today's tokens, today's and this month's USD.
constexpr const char* kChargeFunction = R"lua(
local function charge(bucket, day, usd_day, usd_month, tpm, budget, usd_budgets, used, nano, now)
  if tpm > 0 and used > 0 then
    local h = redis.call('HMGET', bucket, 'level', 'ts')
    local level, ts = tonumber(h[1]) or tpm, tonumber(h[2]) or now
    if now > ts then level = math.min(tpm, level + (now - ts) * tpm / 60000) else now = ts end
    redis.call('HSET', bucket, 'level', string.format('%.17g', level - used), 'ts', string.format('%.17g', now))
    redis.call('PEXPIRE', bucket, 120000 + math.ceil(math.max(0, used - level) * 60000 / tpm))
  end
  local spent, spent_today, spent_month = 0, 0, 0
  if budget > 0 then
    if used > 0 then
      spent = redis.call('INCRBY', day, used)
      redis.call('EXPIRE', day, 172800)
    else
      spent = tonumber(redis.call('GET', day) or '0')
    end
  end
  if nano > 0 then
    spent_today = redis.call('INCRBY', usd_day, nano)
    redis.call('EXPIRE', usd_day, 172800)
    spent_month = redis.call('INCRBY', usd_month, nano)
    redis.call('EXPIRE', usd_month, 5356800)
  elseif usd_budgets > 0 then
    spent_today = tonumber(redis.call('GET', usd_day) or '0')
    spent_month = tonumber(redis.call('GET', usd_month) or '0')
  end
  return spent, spent_today, spent_month
end
-- ARGV from `first` on: groups of (model, requests, input, output, cache_read, cache_write,
-- nano_usd, unpriced) added to the day's hash of usage per model, which keeps 64 models (past
-- those, "(other)") for 400 days.
local fields = {'requests', 'input', 'output', 'cache_read', 'cache_write', 'nano_usd', 'unpriced'}
local function record(key, first)
  if first > #ARGV then return end
  for i = first, #ARGV - 7, 8 do
    local model = ARGV[i]
    if redis.call('HEXISTS', key, model .. '|requests') == 0 and redis.call('HLEN', key) >= 448 then
      model = '(other)'
    end
    for j = 1, 7 do
      local v = tonumber(ARGV[i + j])
      if v and v > 0 then redis.call('HINCRBY', key, model .. '|' .. fields[j], v) end
    end
  end
  redis.call('EXPIRE', key, 34560000)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
)lua";

// KEYS: requests (GCRA's theoretical arrival time), tokens bucket, today's tokens, today's USD,
// this month's USD, today's usage totals. ARGV: requests a minute, tokens a minute, tokens a day,
// USD a day, USD a month (nano-dollars; 0: none), then what earlier answers of this client used
// and this loop has not charged yet (the admission carries it: one round trip a request): tokens,
// nano-dollars, and usage groups (record above). Returns {verdict, wait ms, tokens today, USD
// today, USD this month}: 0 admitted (one request taken), 1 requests a minute, 2 tokens a
// minute, 3 the daily token budget, 4 the daily USD budget, 5 the monthly USD budget.
constexpr const char* kAdmitLua = R"lua(
local rpm, tpm, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local usd_day_budget, usd_month_budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local used, nano = tonumber(ARGV[6]), tonumber(ARGV[7])
local usd_budgets = (usd_day_budget > 0 or usd_month_budget > 0) and 1 or 0
local spent, usd_today, usd_month = charge(KEYS[2], KEYS[3], KEYS[4], KEYS[5], tpm, budget, usd_budgets, used, nano, now)
record(KEYS[6], 8)
if budget > 0 and spent >= budget then return {3, 0, spent, usd_today, usd_month} end
if usd_day_budget > 0 and usd_today >= usd_day_budget then return {4, 0, spent, usd_today, usd_month} end
if usd_month_budget > 0 and usd_month >= usd_month_budget then return {5, 0, spent, usd_today, usd_month} end
if tpm > 0 then
  local h = redis.call('HMGET', KEYS[2], 'level', 'ts')
  local level, ts = tonumber(h[1]) or tpm, tonumber(h[2]) or now
  if now > ts then level = math.min(tpm, level + (now - ts) * tpm / 60000) end
  if level <= 0 then return {2, math.ceil((1 - level) * 60000 / tpm), spent, usd_today, usd_month} end
end
if rpm > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local next_tat = tat + 60000 / rpm
  if next_tat - now > 60000 then return {1, math.ceil(next_tat - now - 60000), spent, usd_today, usd_month} end
  redis.call('SET', KEYS[1], string.format('%.17g', next_tat), 'PX', math.ceil(next_tat - now) + 1000)
end
return {0, 0, spent, usd_today, usd_month}
)lua";

// KEYS: tokens bucket, today's tokens, today's USD, this month's USD, today's usage totals.
// ARGV: tokens a minute, tokens a day (0: none), whether USD budgets are set (0, 1), the tokens
// used, the nano-dollars, then usage groups. Returns {tokens today, USD today, USD this month}.
constexpr const char* kChargeLua = R"lua(
local spent, usd_today, usd_month = charge(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]), tonumber(ARGV[2]),
                                           tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), now)
record(KEYS[5], 6)
return {spent, usd_today, usd_month}
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
  void charge(const auth::Client& client, const Charge& c) override {
    if (client.limiter) client.limiter->charge(c.tokens, c.usd, std::chrono::steady_clock::now(), system_now());
  }
};

// One model's part of a day's usage totals (the record function above).
struct ModelUsage {
  std::uint64_t requests = 0, input = 0, output = 0, cache_read = 0, cache_write = 0, unpriced = 0;
  auth::NanoUsd nano_usd = 0;
};

// Models one loop's owed totals name at most, like the Redis hash per day (the rest: "(other)").
constexpr std::size_t kMaxOwedModels = 64;

class RedisLimits final : public Limits {
 public:
  RedisLimits(const asio::any_io_executor& executor, std::shared_ptr<store::Redis> redis, bool deny,
              std::shared_ptr<FleetStats> stats)
      : executor_(executor),
        redis_(std::move(redis)),
        deny_(deny),
        stats_(std::move(stats)),
        pending_(std::make_shared<Pending>(executor)) {
    pending_->arm = [this](std::chrono::milliseconds after) { arm(after); };
  }

  asio::awaitable<std::optional<auth::Denial>> admit(const auth::Client& client) override {
    if (!client.limiter) co_return std::nullopt;
    const auth::LimitSettings s = client.limiter->settings();
    const SystemTime wall = system_now();
    const std::string day = day_key(client.name, wall);
    // What this client's earlier answers used and this loop has not charged yet goes with the
    // admission, if it is for the same day.
    Owed carried;
    if (auto owed = pending_->owed.find(client.name); owed != pending_->owed.end() && owed->second.day == day) {
      carried = std::move(owed->second);
      pending_->owed.erase(owed);
    }
    std::vector<std::string> keys = {
        key(client.name, "requests"),   key(client.name, "tokens"),       day,
        usd_day_key(client.name, wall), usd_month_key(client.name, wall), usage_key(client.name, wall)};
    std::vector<std::string> args = {
        arg(s.requests_per_minute), arg(s.tokens_per_minute),       arg(s.tokens_per_day),      arg(s.usd_per_day),
        arg(s.usd_per_month),       std::to_string(carried.tokens), std::to_string(carried.usd)};
    append_usage(args, carried);
    auto reply = co_await redis_->eval(admit_script(), std::move(keys), std::move(args));
    if (!reply && reply.kind() == ErrorKind::kUnreachable && carried.owes()) {
      // Refused before it was sent (Redis down or backing off; or a failover's READONLY, which
      // refuses the admission's writes too): what was carried is still owed, not lost. A timeout
      // may have run the script, so it is not owed again (no double charge).
      carried.day = day;
      carried.wall = wall;
      carried.limiter = client.limiter;
      owe_again(client.name, std::move(carried));
    }
    if (!reply || reply->type != store::Reply::Type::kArray || reply->elements.size() != 5) {
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
    const auth::Spent spent = spent_of(*reply, 2, s);
    client.limiter->sync_spent(spent, wall);
    const auto wait = std::chrono::seconds(std::max<long long>(1, (reply->elements[1].integer + 999) / 1000));
    switch (verdict) {
      case 0: co_return std::nullopt;
      case 1: co_return auth::Denial{429, "rate limit exceeded for this key", wait, "rate_limit_exceeded"};
      case 2:
        co_return auth::Denial{
            429, "token rate limit of " + arg(s.tokens_per_minute) + " tokens a minute exceeded for this key", wait,
            "rate_limit_exceeded"};
      default: {
        // A budget: the fleet's counts say which, as the replica's own limiter would.
        auto denial = auth::spent_budget(s, reply->elements[2].integer, reply->elements[3].integer,
                                         reply->elements[4].integer, wall);
        if (denial) co_return denial;
        co_return auth::Denial{429, "a budget of this key is spent", wait, "insufficient_quota"};
      }
    }
  }

  void charge(const auth::Client& client, const Charge& c) override {
    const SystemTime wall = system_now();
    // The replica's own limiter is charged too: it is what `on_failure: local` falls back to.
    if (client.limiter) client.limiter->charge(c.tokens, c.usd, std::chrono::steady_clock::now(), wall);
    if (!c.answered && c.usd <= 0) {
      // Nothing for the usage totals: only the token limits, if there are any.
      if (!client.limiter || c.tokens == 0) return;
      const auth::LimitSettings s = client.limiter->settings();
      if (!s.tokens_per_minute && !s.tokens_per_day) return;
    }
    owe(client, c, wall);
  }

  // After Fleet::drain(), serve keeps the loops running twice kCarryWindow past the last
  // request (Server::stop's settle), so nothing is owed by then.
  ~RedisLimits() override { pending_->timer.cancel(); }

 private:
  // What a client's answers used on this loop and Redis has not been told yet.
  struct Owed {
    std::uint64_t tokens = 0;
    auth::NanoUsd usd = 0;
    std::map<std::string, ModelUsage, std::less<>> models;  // answered calls, by model as sent
    std::string day;                                        // the day key they count against
    SystemTime wall{};
    std::shared_ptr<auth::ClientLimiter> limiter;  // null: the client has no limits
    bool owes() const { return tokens > 0 || usd > 0 || !models.empty(); }
    void add(Owed&& other) {
      tokens += other.tokens;
      usd += other.usd;
      for (auto& [model, u] : other.models) add(model, u);
    }
    void add(std::string_view model, const ModelUsage& u) {
      auto it = models.find(model);
      if (it == models.end()) {
        it = models.size() < kMaxOwedModels ? models.emplace(std::string(model), ModelUsage{}).first
                                            : models.try_emplace("(other)").first;
      }
      ModelUsage& m = it->second;
      m.requests += u.requests;
      m.input += u.input;
      m.output += u.output;
      m.cache_read += u.cache_read;
      m.cache_write += u.cache_write;
      m.unpriced += u.unpriced;
      m.nano_usd += u.nano_usd;
    }
  };
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    std::map<std::string, Owed, std::less<>> owed;
    asio::steady_timer timer;
    bool armed = false;
    // RedisLimits::arm, for a charge that comes back owed: it must not wait for the client's
    // next request (a client without limits sends none through the admission).
    std::function<void(std::chrono::milliseconds)> arm;
  };
  // Long enough that a busy client's charges ride on its next admissions, short enough that
  // the fleet's buckets and budgets lag by no more than this.
  static constexpr std::chrono::milliseconds kCarryWindow = Fleet::kCarryWindow;
  static constexpr std::chrono::milliseconds kRetryOwed{1000};

  // Owed, not sent: the client's next admission on this loop carries it (one round trip a
  // request); what no admission has carried within kCarryWindow is charged on its own.
  void owe(const auth::Client& client, const Charge& c, SystemTime wall) {
    Owed o;
    o.tokens = c.tokens;
    o.usd = c.usd;
    if (c.answered) {
      o.add(c.model, ModelUsage{1, c.usage.input, c.usage.output, c.usage.cache_read, c.usage.cache_write,
                                c.priced ? 0u : 1u, c.priced ? c.usd : 0});
    }
    o.day = day_key(client.name, wall);
    o.wall = wall;
    o.limiter = client.limiter;
    owe_again(client.name, std::move(o));
  }

  void owe_again(const std::string& client, Owed o) {
    auto [owed, fresh] = pending_->owed.try_emplace(client);
    if (!fresh && owed->second.day != o.day) {
      send_charge(owed->first, std::move(owed->second));  // yesterday's, charged to yesterday
      owed->second = Owed{};
      fresh = true;
    }
    if (fresh) {
      owed->second.day = o.day;
      owed->second.wall = o.wall;
    }
    owed->second.limiter = o.limiter;
    owed->second.add(std::move(o));
    if (stats_->draining) {  // no next admission is coming: charge now
      send_charge(owed->first, std::move(owed->second));
      pending_->owed.erase(owed);
      return;
    }
    arm(kCarryWindow);
  }

  // Flushes what is owed after `after`, unless a flush is already due.
  void arm(std::chrono::milliseconds after) {
    if (pending_->armed) return;
    pending_->armed = true;
    pending_->timer.expires_after(after);
    pending_->timer.async_wait([weak = std::weak_ptr<Pending>(pending_), this](boost::system::error_code ec) {
      const auto alive = weak.lock();
      if (!alive || ec) return;
      alive->armed = false;
      flush();
    });
  }

  void flush() {
    auto owed = std::move(pending_->owed);
    pending_->owed.clear();
    for (auto& [client, o] : owed) send_charge(client, std::move(o));
  }

  void send_charge(const std::string& client, Owed o) {
    if (!o.owes()) return;
    asio::co_spawn(executor_, charge_later(redis_, stats_, std::weak_ptr<Pending>(pending_), client, std::move(o)),
                   asio::detached);
  }

  static void append_usage(std::vector<std::string>& args, const Owed& o) {
    for (const auto& [model, u] : o.models) {
      args.push_back(model);
      for (const std::uint64_t v : {u.requests, u.input, u.output, u.cache_read, u.cache_write,
                                    static_cast<std::uint64_t>(u.nano_usd), u.unpriced}) {
        args.push_back(std::to_string(v));
      }
    }
  }

  // The fleet's counts from a reply's elements [first, first + 3), as far as the client's
  // budgets need them.
  static auth::Spent spent_of(const store::Reply& reply, std::size_t first, const auth::LimitSettings& s) {
    auth::Spent spent;
    if (s.tokens_per_day) spent.tokens_today = reply.elements[first].integer;
    if (s.budgets_usd()) {
      spent.usd_today = reply.elements[first + 1].integer;
      spent.usd_this_month = reply.elements[first + 2].integer;
    }
    return spent;
  }

  static std::string day_key(std::string_view client, SystemTime wall) {
    return key(client, "day:" + std::to_string(auth::utc_day(wall)));
  }
  static std::string usd_day_key(std::string_view client, SystemTime wall) {
    return key(client, "usd_day:" + std::to_string(auth::utc_day(wall)));
  }
  static std::string usd_month_key(std::string_view client, SystemTime wall) {
    return key(client, "usd_month:" + auth::utc_month_name(wall));
  }
  static std::string usage_key(std::string_view client, SystemTime wall) {
    return key(client, "usage:" + auth::utc_date(wall));
  }

  // Charges what `o` owes on its own. Refused before it was sent (Redis down or backing off),
  // it is owed again, to ride on the client's next admission or charge; other failures may have
  // run the script, so it is not (no double charge).
  static asio::awaitable<void> charge_later(std::shared_ptr<store::Redis> redis, std::shared_ptr<FleetStats> stats,
                                            std::weak_ptr<Pending> pending, std::string client, Owed o) {
    const auth::LimitSettings s = o.limiter ? o.limiter->settings() : auth::LimitSettings{};
    std::vector<std::string> keys = {key(client, "tokens"), o.day, usd_day_key(client, o.wall),
                                     usd_month_key(client, o.wall), usage_key(client, o.wall)};
    std::vector<std::string> args = {arg(s.tokens_per_minute), arg(s.tokens_per_day), s.budgets_usd() ? "1" : "0",
                                     std::to_string(o.tokens), std::to_string(o.usd)};
    append_usage(args, o);
    auto reply = co_await redis->eval(charge_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) {
      ++stats->redis_failures;
      if (!reply && reply.kind() == ErrorKind::kUnreachable) {
        if (const auto p = pending.lock()) {
          auto [owed, fresh] = p->owed.try_emplace(client);
          if (fresh || owed->second.day == o.day) {
            if (fresh) {
              owed->second.day = o.day;
              owed->second.wall = o.wall;
              owed->second.limiter = o.limiter;
            }
            owed->second.add(std::move(o));
          }
          // Tried again in a second (Redis backs off meanwhile), or with the next admission.
          if (p->arm) p->arm(kRetryOwed);
        }
      }
    } else if (reply->type == store::Reply::Type::kArray && reply->elements.size() == 3 && o.limiter) {
      o.limiter->sync_spent(spent_of(*reply, 0, s), o.wall);
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
