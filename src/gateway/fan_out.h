// Running one request's several upstream calls side by side, a few at a time, on the event
// loop the request runs on (embeddings of many texts, say).
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>

namespace signgate::gateway {

namespace fan_out_detail {

struct State {
  explicit State(const boost::asio::any_io_executor& ex) : done(ex, boost::asio::steady_timer::time_point::max()) {}
  std::size_t next = 0;
  std::size_t count = 0;
  std::size_t running = 0;
  boost::asio::steady_timer done;  // cancelled when the last worker finishes
  std::exception_ptr error;
};

template <class Fn>
boost::asio::awaitable<void> worker(State* st, Fn* fn) {
  while (st->next < st->count) {
    const std::size_t i = st->next++;
    co_await (*fn)(i);
  }
}

}  // namespace fan_out_detail

// Calls co_await fn(i) for i in [0, n), at most `parallel` at once; returns when all are done.
// An exception from one is rethrown once all have finished.
template <class Fn>
boost::asio::awaitable<void> for_each_bounded(std::size_t n, std::size_t parallel, Fn fn) {
  if (n == 0) co_return;
  const auto ex = co_await boost::asio::this_coro::executor;
  fan_out_detail::State st(ex);
  st.count = n;
  st.running = std::min(n, std::max<std::size_t>(parallel, 1));
  const std::size_t workers = st.running;
  for (std::size_t w = 0; w < workers; ++w) {
    boost::asio::co_spawn(ex, fan_out_detail::worker(&st, &fn), [&st](std::exception_ptr e) {
      if (e && !st.error) st.error = e;
      if (--st.running == 0) st.done.cancel();
    });
  }
  boost::system::error_code ec;
  while (st.running > 0) co_await st.done.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  if (st.error) std::rethrow_exception(st.error);
}

}  // namespace signgate::gateway
