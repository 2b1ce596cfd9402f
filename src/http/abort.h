// A caller that went away, told to whoever works for it. An HTTP/2 stream the client resets
// fires its signal; the upstream client, while it waits on a connection for that caller,
// registers closing that connection as what firing does, so the wait ends at once instead of
// at the upstream's next byte. One event loop: not thread-safe.
#pragma once

#include <functional>
#include <utility>

namespace signgate::http {

class AbortSignal {
 public:
  bool fired() const { return fired_; }

  // Runs the registered action once; later registrations are not run (fired() says why).
  void fire() {
    if (fired_) return;
    fired_ = true;
    if (action_) std::exchange(action_, nullptr)();
  }

  // What firing does from now on, replacing any earlier action.
  void on_fire(std::function<void()> action) { action_ = std::move(action); }
  void clear() { action_ = nullptr; }

 private:
  bool fired_ = false;
  std::function<void()> action_;
};

// Registers `action` with `signal` (which may be null) for as long as it lives.
class AbortScope {
 public:
  AbortScope(AbortSignal* signal, std::function<void()> action) : signal_(signal) {
    if (signal_ != nullptr) signal_->on_fire(std::move(action));
  }
  ~AbortScope() {
    if (signal_ != nullptr) signal_->clear();
  }
  AbortScope(const AbortScope&) = delete;
  AbortScope& operator=(const AbortScope&) = delete;

 private:
  AbortSignal* signal_;
};

}  // namespace signgate::http
