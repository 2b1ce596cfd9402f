// Coroutines waiting for what one of them is doing (a connection being opened, a cluster map
// being read): each on a timer of its own (one shared timer's waiters would cancel each
// other), all woken at once. Belongs to one event loop.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <vector>

namespace signgate::store {

class WaitList {
 public:
  // Waits until wake_all() or `deadline`: true when woken.
  boost::asio::awaitable<bool> wait(boost::asio::any_io_executor executor,
                                    boost::asio::steady_timer::time_point deadline) {
    boost::asio::steady_timer mine(executor);
    mine.expires_at(deadline);
    waiting_.push_back(&mine);
    boost::system::error_code ec;
    co_await mine.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &mine));
    co_return static_cast<bool>(ec);
  }

  void wake_all() {
    for (auto* t : waiting_) t->cancel();
  }

 private:
  std::vector<boost::asio::steady_timer*> waiting_;
};

}  // namespace signgate::store
