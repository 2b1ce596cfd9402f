// A Redis client on the event loops, for one Redis server or a Redis Cluster (ElastiCache
// cluster mode, MemoryDB), which its callers cannot tell apart. Each node it talks to has one
// pipelined connection (redis_node.h: commands from any number of coroutines go out as they
// come and their replies are matched in order), redis:// and rediss:// (TLS, the name
// checked), AUTH with an ACL user and password, a deadline on every command, and reconnection
// with backoff. The protocol (RESP) is hiredis's: its command formatter and reply reader, over
// an Asio transport of ours (Debian 12's hiredis 0.14 has no TLS of its own).
//
// A cluster is found from any of the seed URLs (CLUSTER SHARDS, else CLUSTER SLOTS); each
// command goes to the primary serving its key's hash slot (cluster_map.h), follows one MOVED
// (the map learns it) or ASK (ASKING first), and after a failover (a node lost, READONLY,
// CLUSTERDOWN) the map is read again, at most every 250 ms, and a command that surely did not
// run is sent once more to the new primary. Every key of one command must share a slot.
//
// A client belongs to one event loop: create it, call it and destroy it there. Errors are
// values: a command that cannot be answered within its deadline fails (kTimeout) and the
// connection it waited on is dropped, so a paused or unreachable Redis costs each caller at
// most the command timeout, and while reconnecting is backed off callers fail at once.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace signgate::store {

// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss://...; USER and PASSWORD percent-decoded.
struct RedisUrl {
  bool tls = false;
  std::string host;  // IPv6 literals without brackets
  std::uint16_t port = 6379;
  std::string user;  // empty: the default user
  std::string password;
  int db = 0;

  // The URL without the password, for logs.
  std::string redacted() const;
};
Result<RedisUrl> parse_redis_url(std::string_view text);

enum class ClusterMode { kAuto, kOn, kOff };  // redis.cluster: auto, true, false

// Counted by every client that shares it (each loop's and the followers'), for /metrics.
struct RedisStats {
  std::atomic<std::uint64_t> map_refreshes{0};  // cluster slot maps read
  std::atomic<std::uint64_t> redirects{0};      // MOVED and ASK followed
  std::atomic<std::size_t> cluster_nodes{0};    // primaries in the last map read (0: not a cluster)
};

struct RedisOptions {
  RedisUrl url;                       // the first seed
  std::vector<RedisUrl> other_seeds;  // tried in order when the first does not answer
  ClusterMode cluster = ClusterMode::kAuto;
  std::string tls_name;  // rediss://: the name a node's certificate is checked against (empty: url.host)
  std::string ca_file;   // rediss://: empty for the system store
  std::chrono::milliseconds connect_timeout{1'000};
  std::chrono::milliseconds command_timeout{250};
  std::chrono::milliseconds max_backoff{5'000};
  std::size_t max_reply_bytes = 64u << 20;  // a reply buffered past this drops the connection
  std::shared_ptr<RedisStats> stats;        // optional
};

// One RESP2 reply.
struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
};

// A Lua script, known to Redis by its SHA1.
struct RedisScript {
  explicit RedisScript(std::string lua);
  std::string text;
  std::string sha1;  // lower-case hex
};

class Redis {
 public:
  Redis(boost::asio::any_io_executor executor, RedisOptions options);
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // Sends one command (its arguments as Redis takes them) and waits for its reply: an error
  // reply is a value (Reply::is_error), a connection or deadline problem a failure.
  boost::asio::awaitable<Result<Reply>> command(std::vector<std::string> args);

  // Runs `script` with `keys` and `args` (EVALSHA, then EVAL when Redis does not know it yet:
  // a new or restarted Redis, SCRIPT FLUSH), all within one command timeout.
  boost::asio::awaitable<Result<Reply>> eval(const RedisScript& script, std::vector<std::string> keys,
                                             std::vector<std::string> args);

  // Subscribes on a connection of its own, calling `on_message(channel, payload)` for each
  // message and `on_state(connected)` when the subscription is (re)established or lost; keeps
  // reconnecting with backoff until stop(), after which neither is called. Once per client. In
  // a cluster it subscribes on any node (a PUBLISH reaches every node) and moves to another
  // when that one is lost.
  void subscribe(std::vector<std::string> channels, std::function<void(std::string_view, std::string_view)> on_message,
                 std::function<void(bool)> on_state);

  // Closes the connections; pending commands fail, the subscription ends.
  void stop();

  bool connected() const;
  std::uint64_t reconnects() const;
  // Whether the Redis found is a cluster (false until it was found).
  bool cluster() const;
  // Why `redis:` names something this client cannot use (a cluster node with a database
  // other than 0; cluster: true and not a cluster), once found; every command then fails.
  std::optional<std::string> misconfigured() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace signgate::store
