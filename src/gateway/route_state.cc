#include "gateway/route_state.h"

#include <algorithm>

namespace signgate::gateway {

namespace {
constexpr std::chrono::seconds kMaxEjection{300};
}

TargetHealth::View TargetHealth::view_of(const Entry& e, RouteClock::time_point now) {
  View v;
  v.last_failure = e.last_failure;
  if (now < e.out_until) {
    v.standing = Standing::kEjected;
  } else if (e.ejected) {
    v.standing = now < e.probe_until ? Standing::kEjected : Standing::kHalfOpen;
  }
  return v;
}

TargetHealth::View TargetHealth::view(std::string_view key, RouteClock::time_point now) const {
  if (count_.load(std::memory_order_acquire) == 0) return View{};
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(std::string(key));
  return it == entries_.end() ? View{} : view_of(it->second, now);
}

bool TargetHealth::claim_probe(std::string_view key, RouteClock::time_point now) {
  if (count_.load(std::memory_order_acquire) == 0) return true;
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(std::string(key));
  if (it == entries_.end()) return true;
  Entry& e = it->second;
  if (view_of(e, now).standing != Standing::kHalfOpen) return view_of(e, now).standing == Standing::kHealthy;
  // A probe that never reports back (its caller's loop stopped) frees the target after a minute.
  e.probe_until = now + std::chrono::minutes(1);
  return true;
}

void TargetHealth::succeeded(std::string_view key) {
  if (count_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(mutex_);
  entries_.erase(std::string(key));
  count_.store(entries_.size(), std::memory_order_release);
}

TargetHealth::Entry& TargetHealth::entry(std::string_view key, RouteClock::time_point now) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    // Callers name the models a target without its own sends: bounded, the oldest failures go
    // first, ejected targets last.
    if (entries_.size() >= max_entries_) {
      auto victim = std::min_element(entries_.begin(), entries_.end(), [&](const auto& a, const auto& b) {
        return std::pair(a.second.out_until > now, a.second.last_failure) <
               std::pair(b.second.out_until > now, b.second.last_failure);
      });
      entries_.erase(victim);
    }
    it = entries_.emplace(std::string(key), Entry{}).first;
    count_.store(entries_.size(), std::memory_order_release);
  }
  return it->second;
}

void TargetHealth::adopt(std::string_view key, RouteClock::time_point now, std::chrono::seconds length) {
  std::lock_guard lock(mutex_);
  Entry& e = entry(key, now);
  const auto until = now + std::min(length, kMaxEjection);
  if (e.ejected && e.out_until >= until) return;  // known already (our own news, say)
  e.ejected = true;
  e.last_failure = now;
  e.last_ejection = std::max(e.last_ejection, std::min(length, kMaxEjection));
  e.out_until = until;
  e.probe_until = {};
}

bool TargetHealth::failed(std::string_view key, RouteClock::time_point now, int eject_after,
                          std::chrono::seconds eject_for, std::optional<std::chrono::seconds> cool_for) {
  std::unique_lock lock(mutex_);
  Entry& e = entry(key, now);
  const bool was_probe = e.ejected && now >= e.out_until;
  e.last_failure = now;
  e.probe_until = {};
  bool ejected_now = false;
  if (was_probe) {
    e.last_ejection = std::min(e.last_ejection * 2, kMaxEjection);
    e.out_until = now + e.last_ejection;
    ejected_now = true;
  } else if (!e.ejected && ++e.consecutive >= eject_after) {
    e.ejected = true;
    e.last_ejection = std::min(eject_for, kMaxEjection);
    e.out_until = now + e.last_ejection;
    ejected_now = true;
  }
  if (cool_for && now + *cool_for > e.out_until) e.out_until = now + *cool_for;
  const std::chrono::seconds length = e.last_ejection;
  const auto hook = ejected_now ? on_eject_ : nullptr;
  lock.unlock();
  if (hook) hook(std::string(key), length);
  return ejected_now;
}

bool TargetHealth::any_ejected(RouteClock::time_point now,
                               const std::function<bool(std::string_view key)>& names) const {
  if (count_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard lock(mutex_);
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const auto& e) { return e.second.ejected && now < e.second.out_until && names(e.first); });
}

void TargetHealth::release_probe(std::string_view key) {
  if (count_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(mutex_);
  if (const auto it = entries_.find(std::string(key)); it != entries_.end()) it->second.probe_until = {};
}

std::size_t TargetHealth::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void StickyTable::set_capacity(std::size_t capacity) {
  std::lock_guard lock(mutex_);
  capacity_ = capacity;
  trim();
}

std::optional<std::string> StickyTable::get(std::uint64_t key, RouteClock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  if (now - it->second->used > kTtl) {
    order_.erase(it->second);
    index_.erase(it);
    return std::nullopt;
  }
  it->second->used = now;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->target;
}

void StickyTable::put(std::uint64_t key, std::string_view target, RouteClock::time_point now) {
  std::lock_guard lock(mutex_);
  if (capacity_ == 0) return;
  if (const auto it = index_.find(key); it != index_.end()) {
    if (it->second->target != target) it->second->target = std::string(target);
    it->second->used = now;
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  order_.push_front(Entry{key, std::string(target), now});
  index_.emplace(key, order_.begin());
  trim();
}

void StickyTable::trim() {
  while (order_.size() > capacity_) {
    index_.erase(order_.back().key);
    order_.pop_back();
  }
}

std::size_t StickyTable::size() const {
  std::lock_guard lock(mutex_);
  return order_.size();
}

}  // namespace signgate::gateway
