// One Redis node (a server, or one primary of a cluster) on an event loop: one pipelined
// command connection (commands from any number of coroutines go out as they come and their
// replies are matched in order), a subscription connection when asked, redis:// and rediss://
// (TLS with the system store or a CA file, SNI and the name checked), AUTH with an ACL user and
// password, SELECT of a database, a deadline on every command, and reconnection with jittered
// backoff. A server that cannot serve (READONLY, LOADING, MASTERDOWN: a failover) is
// reconnected to, and a reply is bounded in bytes and in elements. Redis (redis.h) puts one
// or many of these behind its interface; nothing else uses it.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/redis.h"

namespace signgate::store {

// Errors a Redis answers every command with while it cannot serve them (a replica, a primary
// still loading or cut from its own primary: a failover); a node reconnects on them.
bool is_failover_error(std::string_view error);

class RedisNode {
 public:
  using Clock = std::chrono::steady_clock;

  // `options.url` is this node; `options.tls_name`, when set, is the name its certificate is
  // checked against.
  RedisNode(boost::asio::any_io_executor executor, RedisOptions options);
  ~RedisNode();
  RedisNode(const RedisNode&) = delete;
  RedisNode& operator=(const RedisNode&) = delete;

  // Sends `commands` back to back, nothing of another caller's between them (ASKING and the
  // command it is for), and returns the last one's reply by `deadline`: an error reply is a
  // value, a connection or deadline problem a failure (kUnreachable: never sent).
  boost::asio::awaitable<Result<Reply>> command(std::vector<std::vector<std::string>> commands,
                                                Clock::time_point deadline);

  // Subscribes to `channels` on a connection of its own and calls `on_message` for each
  // message until that connection ends or stop(); `on_subscribed` once the subscription is in
  // place. Returns whether it ever was.
  boost::asio::awaitable<bool> subscribe_once(std::vector<std::string> channels,
                                              std::function<void(std::string_view, std::string_view)> on_message,
                                              std::function<void()> on_subscribed);

  // Closes the connections for good; pending commands fail.
  void stop();

  bool connected() const;
  std::uint64_t reconnects() const;
  const RedisOptions& options() const;
  // Why the node last failed (for a log line), empty when it never did.
  const std::string& last_error() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace signgate::store
