// A caller that went away, told to whoever works for it. An HTTP/2 stream the client resets,
// or whose connection is lost, fires its signal; the upstream client, while it waits on a
// connection for that caller, registers closing that connection as what firing does, so the
// wait ends at once instead of at the upstream's next byte. Several waits may be registered at
// once (an embeddings request makes several calls). Shared: a registration keeps the signal
// alive, so however the coroutines that hold them are torn down, none outlives it. One event
// loop: not thread-safe.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>

namespace signgate::http {

class AbortSignal {
 public:
  bool fired() const { return fired_; }
  // Why it fired ("the client reset the stream", ...), for the audit log.
  const std::string& reason() const { return reason_; }

  // Runs every registered action, once; later registrations are not run (fired() says why).
  void fire(std::string reason) {
    if (fired_) return;
    fired_ = true;
    reason_ = std::move(reason);
    auto actions = std::move(actions_);
    actions_.clear();
    for (auto& a : actions) {
      if (a) a();
    }
  }

  using Handle = std::list<std::function<void()>>::iterator;
  Handle add(std::function<void()> action) { return actions_.insert(actions_.end(), std::move(action)); }
  void remove(Handle h) {
    if (!fired_) actions_.erase(h);
  }

 private:
  bool fired_ = false;
  std::string reason_;
  std::list<std::function<void()>> actions_;
};

// Registers `action` with `signal` (which may be null) for as long as it lives.
class AbortScope {
 public:
  AbortScope(std::shared_ptr<AbortSignal> signal, std::function<void()> action) : signal_(std::move(signal)) {
    if (signal_) handle_ = signal_->add(std::move(action));
  }
  ~AbortScope() {
    if (signal_) signal_->remove(handle_);
  }
  AbortScope(const AbortScope&) = delete;
  AbortScope& operator=(const AbortScope&) = delete;

 private:
  std::shared_ptr<AbortSignal> signal_;
  AbortSignal::Handle handle_{};
};

}  // namespace signgate::http
