#include "http/deadline.h"

#include <boost/beast/core/error.hpp>

namespace signgate::http {

namespace {
thread_local Deadlines* tl_current = nullptr;
}  // namespace

Deadlines::Deadlines(boost::asio::io_context& ioc) : timer_(ioc) {}

Deadlines::~Deadlines() {
  *alive_ = false;  // the Deadline objects left fall back on Beast's timers
  try {
    timer_.cancel();
  } catch (const boost::system::system_error&) {  // nothing to cancel then
  }
}

Deadlines::Scope::Scope(Deadlines& d) : previous_(tl_current) { tl_current = &d; }
Deadlines::Scope::~Scope() { tl_current = previous_; }

Deadlines* Deadlines::current() { return tl_current; }

void Deadlines::link(Deadline& d) {
  d.prev_ = nullptr;
  d.next_ = head_;
  if (head_ != nullptr) head_->prev_ = &d;
  head_ = &d;
  d.linked_ = true;
  ++armed_;
  if (!waiting_) wait();
}

void Deadlines::unlink(Deadline& d) {
  if (d.prev_ != nullptr) {
    d.prev_->next_ = d.next_;
  } else {
    head_ = d.next_;
  }
  if (d.next_ != nullptr) d.next_->prev_ = d.prev_;
  d.prev_ = d.next_ = nullptr;
  d.linked_ = false;
  --armed_;
}

void Deadlines::wait() {
  waiting_ = true;
  timer_.expires_after(kTick);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive) return;
    waiting_ = false;
    if (ec) return;
    sweep();
    if (head_ != nullptr) wait();  // nothing armed: the next link() starts the timer again
  });
}

void Deadlines::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (Deadline* d = head_; d != nullptr;) {
    Deadline* next = d->next_;
    if (d->due_ <= now) {
      unlink(*d);
      d->fired_ = true;
      boost::system::error_code ignored;
      d->stream_.socket().close(ignored);  // what Beast's own timeout does: the operation ends
    }
    d = next;
  }
}

Deadline::Deadline(boost::beast::tcp_stream& stream) : stream_(stream), home_(Deadlines::current()) {
  if (home_ != nullptr) home_alive_ = home_->alive_;
}

Deadline::~Deadline() {
  if (linked_ && home_ != nullptr && *home_alive_) home_->unlink(*this);
}

// Only on the thread of the Deadlines that still lives: anywhere else, Beast's timers (a
// connection is never handed between loops; this keeps a mistake from corrupting a list).
bool Deadline::swept() const { return home_ != nullptr && *home_alive_ && home_ == Deadlines::current(); }

void Deadline::arm(std::chrono::steady_clock::duration timeout) {
  fired_ = false;
  if (!swept()) {
    stream_.expires_after(timeout);
    return;
  }
  due_ = std::chrono::steady_clock::now() + timeout;
  if (!linked_) home_->link(*this);
}

void Deadline::disarm() {
  if (!swept()) {
    stream_.expires_never();
    return;
  }
  if (linked_) home_->unlink(*this);
}

boost::system::error_code Deadline::judge(const boost::system::error_code& ec) const {
  if (ec && fired_) return boost::beast::error::timeout;
  return ec;
}

}  // namespace signgate::http
