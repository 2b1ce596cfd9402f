// What routes learn while serving, shared by every loop of the process and kept across reloads:
// which targets are ejected (consecutive failures, then half-open probes) and which target each
// sticky key last went to (Bedrock's prompt cache lives there). Both bounded; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace signgate::gateway {

using RouteClock = std::chrono::steady_clock;

// Ejection per target, keyed by (identity, region, model as sent): every route naming the same
// target shares its state (SPEC §7).
class TargetHealth {
 public:
  enum class Standing {
    kHealthy,   // serve
    kHalfOpen,  // ejection over: one probe may go (claim_probe)
    kEjected,   // no traffic unless every target is ejected
  };
  struct View {
    Standing standing = Standing::kHealthy;
    RouteClock::time_point last_failure{};  // for "the least recently failed"
  };

  explicit TargetHealth(std::size_t max_entries = 10'000) : max_entries_(max_entries) {}

  View view(std::string_view key, RouteClock::time_point now) const;
  // Takes the one probe of a half-open target; false when another request holds it.
  bool claim_probe(std::string_view key, RouteClock::time_point now);
  void succeeded(std::string_view key);
  // A failure of a kind the route fails over on. `cool_for` (Bedrock's Retry-After) keeps the
  // target out for that long without counting as an ejection. Returns true when this failure
  // ejected the target (after `eject_after` in a row, or a failed probe: twice as long as the
  // ejection before, up to five minutes).
  bool failed(std::string_view key, RouteClock::time_point now, int eject_after, std::chrono::seconds eject_for,
              std::optional<std::chrono::seconds> cool_for = std::nullopt);
  std::size_t size() const;
  // Every target healthy, nothing remembered: the common case, told without a lock.
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }
  // Told of every ejection this replica decides (the target's key and how long): a fleet
  // publishes it (route_fleet.h). Set before serving.
  void on_eject(std::function<void(const std::string& key, std::chrono::seconds length)> hook) {
    std::lock_guard lock(mutex_);
    on_eject_ = std::move(hook);
  }
  // An ejection another replica decided: taken as if decided here, without telling on_eject.
  void adopt(std::string_view key, RouteClock::time_point now, std::chrono::seconds length);
  // Whether any key `names` admits is ejected now (a target that sends the model as asked has
  // one key per model): for /metrics and /readyz.
  bool any_ejected(RouteClock::time_point now, const std::function<bool(std::string_view key)>& names) const;
  // Gives back a probe claimed but not reported (the call failed in a way that says nothing
  // about the target, or never went).
  void release_probe(std::string_view key);

 private:
  struct Entry {
    int consecutive = 0;
    RouteClock::time_point out_until{};  // ejected or cooling until then
    bool ejected = false;                // out_until is an ejection (half-open after it)
    std::chrono::seconds last_ejection{0};
    RouteClock::time_point last_failure{};
    RouteClock::time_point probe_until{};  // a probe is out until then
  };
  static View view_of(const Entry& e, RouteClock::time_point now);

  Entry& entry(std::string_view key, RouteClock::time_point now);  // under mutex_

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  // entries_.size(), read without the lock: while every target is healthy (no entry), a call
  // asks nothing under a lock that every loop shares.
  std::atomic<std::size_t> count_{0};
  std::size_t max_entries_;
  std::function<void(const std::string&, std::chrono::seconds)> on_eject_;
};

// Which target a sticky key went to last: an LRU of at most `capacity` keys, each forgotten
// after an hour unused.
class StickyTable {
 public:
  static constexpr std::chrono::hours kTtl{1};
  explicit StickyTable(std::size_t capacity) : capacity_(capacity) {}

  void set_capacity(std::size_t capacity);
  std::optional<std::string> get(std::uint64_t key, RouteClock::time_point now);
  void put(std::uint64_t key, std::string_view target, RouteClock::time_point now);
  std::size_t size() const;

 private:
  struct Entry {
    std::uint64_t key;
    std::string target;
    RouteClock::time_point used;
  };
  void trim();

  mutable std::mutex mutex_;
  std::list<Entry> order_;  // most recently used first
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> index_;
  std::size_t capacity_;
};

// What a process's routes share.
struct RouteState {
  TargetHealth health;
  StickyTable sticky{100'000};
};

}  // namespace signgate::gateway
