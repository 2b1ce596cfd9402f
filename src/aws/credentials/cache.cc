#include "aws/credentials/cache.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "aws/credentials/chain.h"
#include "aws/credentials/providers.h"

namespace signgate::aws {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

SystemTime refresh_time(SystemTime fetched_at, SystemTime expiration, seconds before) {
  if (expiration - fetched_at <= before) return fetched_at + (expiration - fetched_at) / 2;
  return expiration - before;
}

milliseconds retry_delay(int attempt, double unit_random, milliseconds base, milliseconds cap) {
  milliseconds ceiling = base;
  for (int i = 1; i < attempt && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  // Half fixed, half random: never zero, never all at once.
  return ceiling / 2 + milliseconds(static_cast<long long>(static_cast<double>(ceiling.count()) / 2 * unit_random));
}

CredentialCache::CredentialCache(RoleSettings role, Clock clock, seconds expiry_margin)
    : role_(std::move(role)), clock_(std::move(clock)), margin_(expiry_margin) {}

Result<std::shared_ptr<const Credentials>> CredentialCache::current() const {
  std::lock_guard lock(mutex_);
  if (credentials_) {
    const auto& expiration = credentials_->expiration();
    if (!expiration || clock_() + margin_ < *expiration) return credentials_;
    return make_error("AWS credentials for " + role_.label() + " expired at " + format_iso8601(*expiration) +
                      " and could not be refreshed" +
                      (status_.last_error.empty() ? std::string() : ": " + status_.last_error));
  }
  if (!attempted_) return make_error("AWS credentials for " + role_.label() + " are still being fetched");
  if (role_.role_arn.empty()) return make_error(status_.last_error);
  return make_error("no AWS credentials for " + role_.label() + ": " + status_.last_error);
}

CacheStatus CredentialCache::status() const {
  std::lock_guard lock(mutex_);
  CacheStatus s = status_;
  s.ready = credentials_ && (!credentials_->expiration() || clock_() + margin_ < *credentials_->expiration());
  return s;
}

Result<std::shared_ptr<const Credentials>> CredentialCache::wait_first(milliseconds timeout) const {
  {
    std::unique_lock lock(mutex_);
    first_done_.wait_for(lock, timeout, [this] { return attempted_; });
  }
  return current();
}

void CredentialCache::publish(Fetched fetched, std::string source) {
  auto creds = std::make_shared<const Credentials>(std::move(fetched.credentials));
  {
    std::lock_guard lock(mutex_);
    credentials_ = std::move(creds);
    attempted_ = true;
    status_.expiration = credentials_->expiration();
    status_.source = std::move(source);
    status_.assumed_role_arn = std::move(fetched.assumed_role_arn);
    status_.last_error.clear();
    ++status_.refreshes;
  }
  first_done_.notify_all();
}

void CredentialCache::fail(std::string error, std::string source) {
  {
    std::lock_guard lock(mutex_);
    attempted_ = true;
    status_.last_error = std::move(error);
    status_.source = std::move(source);
    ++status_.failures;
  }
  first_done_.notify_all();
}

namespace {

// The base credentials, fetched once and shared by every role's refresh; fetched again
// only when they come within the refresh window of their own expiry. One fetch at a
// time: later callers wait for the one in flight (everything runs on one thread).
class SharedBase final : public Provider {
 public:
  SharedBase(std::shared_ptr<Provider> inner, const asio::any_io_executor& ex, Clock clock, seconds before)
      : inner_(std::move(inner)), clock_(std::move(clock)), before_(before), done_(ex) {
    done_.expires_at(asio::steady_timer::time_point::max());
  }

  std::string describe() const override { return inner_->describe(); }

  asio::awaitable<Result<Fetched>> fetch() override {
    if (cached_ && fresh()) co_return *cached_;
    if (in_flight_) {
      const std::uint64_t generation = generation_;
      while (in_flight_ && generation == generation_) {
        boost::system::error_code ec;
        co_await done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      co_return last_;
    }
    in_flight_ = true;
    last_ = co_await inner_->fetch();
    if (last_) cached_ = *last_;
    in_flight_ = false;
    ++generation_;
    done_.cancel();  // wakes the waiters
    co_return last_;
  }

 private:
  bool fresh() const {
    const auto& e = cached_->credentials.expiration();
    return !e || clock_() + before_ < *e;
  }

  std::shared_ptr<Provider> inner_;
  Clock clock_;
  seconds before_;
  asio::steady_timer done_;
  bool in_flight_ = false;
  std::uint64_t generation_ = 0;
  std::optional<Fetched> cached_;
  Result<Fetched> last_{make_error("not fetched yet")};
};

}  // namespace

struct CredentialManager::Loop {
  Loop(CredentialSettings s, Environment env, Clock c)
      : settings(std::move(s)), clock(std::move(c)), work(asio::make_work_guard(ioc)), rng(std::random_device{}()) {
    services.env = std::move(env);
    services.clock = clock;
    services.region = settings.region;
    services.sts_endpoint = settings.sts_endpoint;
    http = std::make_unique<http::Client>(ioc.get_executor(), settings.http);
    services.http = http.get();
    std::shared_ptr<Provider> inner = settings.base ? settings.base : std::make_shared<ChainProvider>(services);
    // The base is refreshed a little ahead of the roles so a role refresh finds it fresh.
    base = std::make_shared<SharedBase>(std::move(inner), ioc.get_executor(), clock,
                                        settings.refresh_before + seconds(60));
    thread = std::thread([this] { ioc.run(); });
  }

  // Keeps one identity's credentials fresh for as long as a runtime uses it: the loop holds
  // the cache weakly, so an identity a reload dropped (a corrected External ID, say) stops
  // being fetched, and stops being logged as failing, at its next wake-up.
  asio::awaitable<void> refresh(std::weak_ptr<CredentialCache> weak, std::shared_ptr<Provider> provider) {
    asio::steady_timer timer(ioc);
    int attempt = 0;
    for (;;) {
      if (weak.expired()) co_return;  // no STS call (and no CloudTrail entry) for a dropped identity
      auto fetched = co_await provider->fetch();
      auto cache = weak.lock();
      if (!cache) co_return;
      const SystemTime now = clock();
      std::chrono::nanoseconds wait{};
      if (fetched) {
        if (attempt > 0) {
          spdlog::info("credentials for {} fetched again after {} failed attempt{}", cache->role().label(), attempt,
                       attempt == 1 ? "" : "s");
        }
        attempt = 0;
        const auto expiration = fetched->credentials.expiration();
        cache->publish(std::move(*fetched), provider->describe());
        if (!expiration) co_return;  // keys that never expire need no refresh
        wait = refresh_time(now, *expiration, settings.refresh_before) - now;
      } else {
        wait = retry_delay(++attempt, std::uniform_real_distribution<double>(0, 1)(rng), settings.retry_base,
                           settings.retry_cap);
        const bool still_valid = cache->current().ok();
        // Role, session and STS's words only: no key, token or External ID is in a fetch error.
        spdlog::warn("credentials for {} ({}): {} — attempt {}, next in {} s{}", cache->role().label(),
                     provider->describe(), fetched.message(), attempt,
                     std::chrono::duration_cast<seconds>(wait + std::chrono::milliseconds(500)).count(),
                     still_valid ? "; the held credentials still serve" : "; requests for it get 503");
        cache->fail(fetched.message(), provider->describe());
      }
      cache.reset();
      timer.expires_after(std::max(wait, std::chrono::nanoseconds(0)));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  CredentialSettings settings;
  Clock clock;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  ProviderServices services;
  std::unique_ptr<http::Client> http;
  std::shared_ptr<SharedBase> base;
  std::mt19937_64 rng;
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<CredentialCache>> caches;
  std::thread thread;
};

CredentialManager::CredentialManager(CredentialSettings settings, Environment env, Clock clock)
    : loop_(std::make_unique<Loop>(std::move(settings), std::move(env), std::move(clock))) {}

CredentialManager::~CredentialManager() { stop(); }

void CredentialManager::stop() {
  if (!loop_->thread.joinable()) return;
  loop_->work.reset();
  loop_->ioc.stop();
  loop_->thread.join();
}

std::shared_ptr<CredentialCache> CredentialManager::identity(const RoleSettings& role) {
  // Every field AssumeRole sends: two clients share a cache only when their calls would be
  // the same, and a reload that changes a session policy or a tag makes a new identity.
  std::string key = role.role_arn + '\n' + role.external_id + '\n' + role.session_name + '\n' +
                    std::to_string(role.duration_seconds) + '\n' + role.source_identity + '\n' + role.policy + '\n' +
                    role.sts_region + '\n' + role.sts_endpoint;
  for (const auto& [name, value] : role.tags) {
    key += '\n';
    key += name;
    key += '\x1f';
    key += value;
  }
  std::lock_guard lock(loop_->mutex);
  // Identities no runtime holds any more are forgotten, so the map stays as small as the config.
  std::erase_if(loop_->caches, [](const auto& entry) { return entry.second.expired(); });
  auto& weak = loop_->caches[key];
  if (auto held = weak.lock()) return held;
  auto slot = std::make_shared<CredentialCache>(role, loop_->clock, loop_->settings.expiry_margin);
  weak = slot;
  std::shared_ptr<Provider> provider = loop_->base;
  if (!role.role_arn.empty()) {
    AssumeRoleParams params{role.role_arn,
                            sanitize_session_name(role.session_name),
                            role.external_id,
                            role.duration_seconds,
                            role.source_identity,
                            role.policy,
                            role.tags};
    provider = std::make_shared<AssumeRoleProvider>(loop_->base, std::move(params), loop_->services, role.sts_region,
                                                    role.sts_endpoint);
  }
  asio::co_spawn(loop_->ioc, loop_->refresh(slot, std::move(provider)), asio::detached);
  return slot;
}

}  // namespace signgate::aws
