// Timeouts of socket reads and writes without a timer per operation. Beast's tcp_stream arms a
// timer for every read and write and cancels it after: a timer-queue insertion, a handler and
// a cancelled completion each time, about 5 % of a proxied request's instructions (issue 17).
// Here an event loop owns one Deadlines; a connection's Deadline on that loop only stores when
// its current operation is due, and one timer ticking every kTick closes the socket of each
// deadline past due. A timeout therefore fires up to kTick late. A Deadline made on a thread
// that runs no Deadlines (a command's own io_context, a test's) falls back on Beast's timers.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>

namespace signgate::http {

class Deadline;

// The deadlines of one event loop: a list of those armed, swept by one timer that runs only
// while the list is not empty. Not thread-safe: everything happens on the loop's thread.
class Deadlines {
 public:
  static constexpr std::chrono::milliseconds kTick{100};

  explicit Deadlines(boost::asio::io_context& ioc);
  ~Deadlines();  // the loop's Deadline objects fall back on Beast's timers from then on
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  // While a Scope lives, Deadline objects made on its thread belong to `d`.
  class Scope {
   public:
    explicit Scope(Deadlines& d);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Deadlines* previous_;
  };

  std::size_t armed() const { return armed_; }
  // The calling thread's, or null.
  static Deadlines* current();

 private:
  friend class Deadline;
  void link(Deadline& d);
  void unlink(Deadline& d);
  void wait();
  void sweep();

  boost::asio::steady_timer timer_;
  Deadline* head_ = nullptr;
  std::size_t armed_ = 0;
  bool waiting_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // read by a wait that outlives this
};

// The timeout of a connection's next read or write. arm() before the operation, judge() its
// error code after it, disarm() once it is done. Lives on the thread it was made on.
class Deadline {
 public:
  explicit Deadline(boost::beast::tcp_stream& stream);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void arm(std::chrono::steady_clock::duration timeout);
  void disarm();
  // `ec`, or beast::error::timeout when this deadline closed the socket under the operation.
  boost::system::error_code judge(const boost::system::error_code& ec) const;

 private:
  friend class Deadlines;
  bool swept() const;  // by home_, on its thread, while it lives; else Beast's timers

  boost::beast::tcp_stream& stream_;
  Deadlines* home_;                   // null: none on the thread that made this
  std::shared_ptr<bool> home_alive_;  // whether home_ still lives
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  bool linked_ = false;
  bool fired_ = false;
  std::chrono::steady_clock::time_point due_{};
};

}  // namespace signgate::http
