#include "gateway/revocations.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace signgate::gateway {

namespace asio = boost::asio;

bool Revocations::revoked(const Digest& secret_sha256) const {
  std::lock_guard lock(mutex_);
  return revoked_.count(secret_sha256) != 0;
}

void Revocations::add(const Digest& d) {
  std::lock_guard lock(mutex_);
  revoked_.insert(d);
  any_.store(true, std::memory_order_release);
}

void Revocations::merge(const std::set<Digest>& all) {
  std::lock_guard lock(mutex_);
  revoked_.insert(all.begin(), all.end());
  if (!revoked_.empty()) any_.store(true, std::memory_order_release);
}

void Revocations::mark_read(SteadyTime at) {
  read_at_.store(std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count(),
                 std::memory_order_release);
  failing_.store(false, std::memory_order_release);
}

void Revocations::mark_unread() { failing_.store(true, std::memory_order_release); }

bool Revocations::current(SteadyTime now) const {
  if (!failing_.load(std::memory_order_acquire)) return true;
  const std::int64_t at = read_at_.load(std::memory_order_acquire);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return at >= 0 && now_ms - at <= std::chrono::duration_cast<std::chrono::milliseconds>(kStaleAfter).count();
}

std::size_t Revocations::size() const {
  std::lock_guard lock(mutex_);
  return revoked_.size();
}

namespace {

// The digests an SMEMBERS reply lists (entries that are not 64 hex digits are skipped).
std::set<Digest> digests_of(const store::Reply& members) {
  std::set<Digest> all;
  for (const auto& m : members.elements) {
    if (auto d = digest_from_hex(m.str)) all.insert(*d);
  }
  return all;
}

}  // namespace

bool load_revocations(const store::RedisOptions& options, Revocations& into, std::string* why, bool* misconfigured) {
  asio::io_context ioc;
  store::Redis redis(ioc.get_executor(), options);
  bool loaded = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::vector<std::string> command = {"SMEMBERS", std::string(kRevokedSet)};
        auto members = co_await redis.command(std::move(command));
        if (members && members->type == store::Reply::Type::kArray) {
          into.merge(digests_of(*members));
          into.mark_read(std::chrono::steady_clock::now());
          loaded = true;
        } else {
          into.mark_unread();
          if (why != nullptr) *why = members ? members->str : members.message();
        }
        if (misconfigured != nullptr) *misconfigured = redis.misconfigured().has_value();
        redis.stop();
      },
      asio::detached);
  ioc.run();
  return loaded;
}

struct RevocationFollower::State : std::enable_shared_from_this<RevocationFollower::State> {
  State(const asio::any_io_executor& ex, store::RedisOptions options, std::shared_ptr<Revocations> r)
      : redis(ex, std::move(options)), revocations(std::move(r)), tick(ex) {}

  store::Redis redis;
  std::shared_ptr<Revocations> revocations;
  asio::steady_timer tick;
  bool stopped = false;
  bool reread = false;  // the subscription came back: read the whole set whatever its size
  bool warned = false;  // the set went stale and the log said so
  std::function<void(bool)> on_answer;

  // Reads the set's size every second, and the whole set at start, when the size changed and
  // whenever the subscription comes back. Secrets are only ever added to it.
  asio::awaitable<void> poll(std::shared_ptr<State> /*self*/) {
    long long seen = -1;
    while (!stopped) {
      std::vector<std::string> count = {"SCARD", std::string(kRevokedSet)};
      auto size = co_await redis.command(std::move(count));
      const bool answered = size && size->type == store::Reply::Type::kInteger;
      if (on_answer && !stopped) on_answer(answered);
      bool read = answered && size->integer == seen && !reread;
      if (answered && !read) {
        std::vector<std::string> command = {"SMEMBERS", std::string(kRevokedSet)};
        auto members = co_await redis.command(std::move(command));
        if (members && members->type == store::Reply::Type::kArray) {
          seen = size->integer;
          reread = false;
          merge(*members);
          read = true;
        }
      }
      // Read now, or unchanged since it was: current. Otherwise say so once, when it goes stale.
      const auto now = std::chrono::steady_clock::now();
      if (read) {
        if (!revocations->current(now) && warned) spdlog::info("revocations: read from Redis again");
        revocations->mark_read(now);
        warned = false;
      } else {
        revocations->mark_unread();
      }
      if (!read && !revocations->current(now) && !warned) {
        warned = true;
        if (revocations->fails_closed()) {
          spdlog::warn(
              "revocations: not read from Redis for {} s; requests with API keys are refused (503) until Redis "
              "answers (redis.on_failure: deny)",
              Revocations::kStaleAfter.count());
        } else {
          spdlog::warn(
              "revocations: not read from Redis for {} s; revoked secrets may be accepted until Redis answers "
              "(redis.on_failure: local)",
              Revocations::kStaleAfter.count());
        }
      }
      if (stopped) break;
      tick.expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  void merge(const store::Reply& members) const {
    const std::size_t before = revocations->size();
    revocations->merge(digests_of(members));
    if (revocations->size() != before) spdlog::info("revocations: {} revoked secret(s) known", revocations->size());
  }
};

RevocationFollower::RevocationFollower(const asio::any_io_executor& executor, store::RedisOptions options,
                                       std::shared_ptr<Revocations> revocations, std::function<void(bool)> on_answer)
    : state_(std::make_shared<State>(executor, std::move(options), std::move(revocations))) {
  state_->on_answer = std::move(on_answer);
  std::weak_ptr<State> weak = state_;
  state_->redis.subscribe(
      {std::string(kRevocationChannel)},
      [weak](std::string_view, std::string_view payload) {
        auto s = weak.lock();
        if (!s) return;
        if (auto d = digest_from_hex(payload)) {
          s->revocations->add(*d);
          spdlog::info("revocations: a secret was revoked ({} known)", s->revocations->size());
        }
      },
      [weak](bool up) {
        auto s = weak.lock();
        if (s && up) {
          s->reread = true;  // back: read the whole set now, for what was missed
          s->tick.cancel();
        }
      });
  asio::co_spawn(executor, state_->poll(state_), asio::detached);
}

RevocationFollower::~RevocationFollower() { stop(); }

void RevocationFollower::stop() {
  state_->stopped = true;
  state_->tick.cancel();
  state_->redis.stop();
}

}  // namespace signgate::gateway
