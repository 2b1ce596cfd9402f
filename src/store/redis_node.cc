#include "store/redis_node.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <random>

#include "http/tls_client.h"
#include "store/resp_reader.h"
#include "store/wait_list.h"

namespace signgate::store {

bool is_failover_error(std::string_view error) {
  return error.rfind("READONLY", 0) == 0 || error.rfind("LOADING", 0) == 0 || error.rfind("MASTERDOWN", 0) == 0 ||
         // Redis 6 wraps what a script met: "ERR Error running script ...: -READONLY You can't write..."
         (error.rfind("ERR Error running script", 0) == 0 && error.find("-READONLY") != std::string_view::npos);
}

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

namespace {

// One command in RESP, formatted by hiredis.
std::string format_command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* out = nullptr;
  const int n = redisFormatCommandArgv(&out, static_cast<int>(args.size()), argv.data(), lengths.data());
  if (n < 0 || out == nullptr) return {};
  std::string command(out, static_cast<std::size_t>(n));
  redisFreeCommand(out);
  return command;
}

// A connection to Redis, plain or TLS: connect, then read and write.
class Link {
 public:
  Link(const asio::any_io_executor& ex, asio::ssl::context* tls) : tcp_(ex) {
    if (tls != nullptr) tls_.emplace(tcp_, *tls);
  }

  // `tls_name`: the name the server's certificate must carry (and SNI, unless an IP address).
  asio::awaitable<Result<bool>> connect(const RedisUrl& url, const std::string& tls_name, Millis timeout) {
    error_code ec;
    // getaddrinfo cannot be interrupted once it runs (Asio's resolver thread): the lookup is
    // raced against the deadline and, when the deadline wins, left to finish on its own.
    struct Lookup {
      explicit Lookup(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
      asio::ip::tcp::resolver resolver;
      asio::steady_timer wake;
      bool done = false;
      error_code ec;
      asio::ip::tcp::resolver::results_type endpoints;
    };
    auto lookup = std::make_shared<Lookup>(tcp_.get_executor());
    lookup->resolver.async_resolve(url.host, std::to_string(url.port),
                                   [lookup](const error_code& e, asio::ip::tcp::resolver::results_type r) {
                                     lookup->done = true;
                                     lookup->ec = e;
                                     lookup->endpoints = std::move(r);
                                     lookup->wake.cancel();
                                   });
    lookup->wake.expires_after(timeout);
    error_code waited;
    if (!lookup->done) co_await lookup->wake.async_wait(asio::redirect_error(asio::use_awaitable, waited));
    if (!lookup->done) {
      // Lookups still queued behind the running one then skip getaddrinfo.
      lookup->resolver.cancel();
      co_return make_error("resolving " + url.host + ": no answer within the connect timeout", ErrorKind::kTimeout);
    }
    ec = lookup->ec;
    const auto endpoints = lookup->endpoints;
    tcp_.expires_after(timeout);
    if (ec) co_return make_error("resolving " + url.host + ": " + ec.message(), ErrorKind::kUnreachable);
    co_await tcp_.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return make_error("connecting to " + url.redacted() + ": " + ec.message(),
                           ec == beast::error::timeout ? ErrorKind::kTimeout : ErrorKind::kUnreachable);
    }
    tcp_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
    if (tls_) {
      error_code not_ip;
      (void)asio::ip::make_address(tls_name, not_ip);
      if (!http::prepare_client_tls(*tls_, tls_name, !not_ip)) co_return make_error("TLS: could not set SNI");
      co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        co_return make_error("TLS handshake with " + url.redacted() + ": " + ec.message(), ErrorKind::kUnreachable);
      }
    }
    tcp_.expires_never();
    co_return true;
  }

  asio::awaitable<std::size_t> read_some(char* data, std::size_t size, error_code& ec) {
    const auto space = asio::buffer(data, size);
    if (tls_) co_return co_await tls_->async_read_some(space, asio::redirect_error(asio::use_awaitable, ec));
    co_return co_await tcp_.async_read_some(space, asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> write(const std::string& bytes, error_code& ec) {
    const auto out = asio::buffer(bytes);
    if (tls_) {
      co_await asio::async_write(*tls_, out, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(tcp_, out, asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  void close() {
    error_code ec;
    tcp_.socket().close(ec);
  }

 private:
  beast::tcp_stream tcp_;
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls_;
};

struct Pending {
  explicit Pending(const asio::any_io_executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::optional<Result<Reply>> result;
};

}  // namespace

struct RedisNode::Impl : std::enable_shared_from_this<RedisNode::Impl> {
  Impl(asio::any_io_executor ex, RedisOptions o)
      : executor(std::move(ex)), options(std::move(o)), tls_context(asio::ssl::context::tls_client) {
    if (options.url.tls) tls_error = http::configure_client_tls(tls_context, options.ca_file);
  }

  asio::any_io_executor executor;
  RedisOptions options;
  asio::ssl::context tls_context;
  std::string tls_error;

  // The command connection; shared with its reader and writer, which may still wait on it
  // after it was dropped.
  std::shared_ptr<Link> link;
  bool connecting = false, ready = false, stopped = false, writing = false;
  std::uint64_t generation = 0;                  // each connection's readers and writers stop once it is replaced
  std::deque<std::shared_ptr<Pending>> pending;  // sent or queued, answered in this order
  std::string out;                               // queued, not yet written
  std::size_t unwritten = 0;                     // the last entries of `pending`, whose bytes are in `out`
  WaitList waiting;                              // callers waiting for a connection
  Clock::time_point retry_at{};                  // no new connection before this
  Millis backoff{100};
  bool answered_since_connect = false;
  std::string last_error;
  std::uint64_t reconnects = 0;
  std::uint64_t connections = 0;

  // The subscription's connection, while there is one.
  std::shared_ptr<Link> sub_link;

  // Opens a connection, authenticated and on its database, and hands it the reader.
  asio::awaitable<Result<std::shared_ptr<Link>>> open(RespReader& reader) {
    if (!tls_error.empty()) co_return make_error(tls_error, ErrorKind::kUnreachable);
    auto l = std::make_shared<Link>(executor, options.url.tls ? &tls_context : nullptr);
    const std::string& name = options.tls_name.empty() ? options.url.host : options.tls_name;
    auto connected = co_await l->connect(options.url, name, options.connect_timeout);
    if (!connected) co_return connected.error();
    std::vector<std::vector<std::string>> hello;
    if (!options.url.password.empty()) {
      if (options.url.user.empty()) {
        hello.push_back({"AUTH", options.url.password});
      } else {
        hello.push_back({"AUTH", options.url.user, options.url.password});
      }
    }
    if (options.url.db != 0) hello.push_back({"SELECT", std::to_string(options.url.db)});
    if (hello.empty()) co_return l;
    std::string bytes;
    for (const auto& c : hello) bytes += format_command(c);
    error_code ec;
    co_await l->write(bytes, ec);
    if (ec) {
      co_return make_error("Redis " + options.url.redacted() + ": writing AUTH/SELECT: " + ec.message(),
                           ErrorKind::kBroken);
    }
    // One deadline for the answers: a Redis that takes the connection but never answers.
    asio::steady_timer deadline(executor);
    deadline.expires_after(options.connect_timeout);
    // Weak: the expiry may already be queued when the answer arrives and open() returns.
    const std::weak_ptr<Link> weak = l;
    auto answered_in_time = std::make_shared<bool>(false);
    deadline.async_wait([weak, answered_in_time](const error_code& e) {
      auto link_alive = weak.lock();
      if (!e && !*answered_in_time && link_alive) link_alive->close();
    });
    std::size_t answered = 0;
    std::string failure;
    char buf[4096];
    while (!ec && answered < hello.size()) {
      const std::size_t n = co_await l->read_some(buf, sizeof buf, ec);
      if (ec) break;
      if (!reader.feed(buf, n)) {
        failure = "unreadable reply";
        break;
      }
      std::string error;
      while (answered < hello.size()) {
        auto reply = reader.next(&error);
        if (!error.empty()) failure = error;
        if (!reply) break;
        ++answered;
        if (reply->is_error()) failure = hello[answered - 1][0] + " refused: " + reply->str;
      }
      if (!failure.empty()) break;
    }
    *answered_in_time = true;
    deadline.cancel();
    if (!failure.empty()) co_return make_error("Redis " + options.url.redacted() + ": " + failure);
    if (ec || answered < hello.size()) {
      co_return make_error("Redis " + options.url.redacted() +
                               " did not answer AUTH/SELECT: " + (ec ? ec.message() : std::string("closed")),
                           ErrorKind::kTimeout);
    }
    co_return l;
  }

  // Connects the command connection, once, with backoff after a failure.
  asio::awaitable<void> connect(std::shared_ptr<Impl> /*self*/) {
    auto reader = std::make_shared<RespReader>();
    auto opened = co_await open(*reader);
    connecting = false;
    if (stopped) {
      if (opened) (*opened)->close();
    } else if (!opened) {
      failed(opened.message());
    } else {
      link = std::move(*opened);
      ready = true;
      answered_since_connect = false;  // the backoff resets with the first answer, not the connect
      if (connections++ > 0) ++reconnects;
      const std::uint64_t gen = ++generation;
      asio::co_spawn(executor, read_loop(shared_from_this(), gen, link, reader), asio::detached);
    }
    waiting.wake_all();
  }

  void failed(const std::string& why) {
    if (last_error != why) spdlog::warn("redis: {}; retrying in {} ms", why, backoff.count());
    last_error = why;
    // Jittered (half to all of the backoff), so a fleet does not reconnect in step.
    thread_local std::minstd_rand jitter{std::random_device{}()};
    const auto wait = backoff / 2 + Millis(std::uniform_int_distribution<long>(0, backoff.count() / 2)(jitter));
    retry_at = Clock::now() + wait;
    backoff = std::min(backoff * 2, options.max_backoff);
  }

  // Drops the command connection: every command waiting on it fails with `why`, and the next
  // connection waits for the backoff.
  void drop(const std::string& why, ErrorKind kind) {
    end_connection(why, kind);
    failed(why);
  }

  void end_connection(const std::string& why, ErrorKind kind) {
    if (link) link->close();
    link.reset();
    ready = false;
    writing = false;
    ++generation;
    out.clear();
    // Commands whose bytes were never handed to the connection were not sent; the others may
    // have run, whatever ended the connection, so a caller does not send them again.
    const std::size_t sent = pending.size() - std::min(unwritten, pending.size());
    for (std::size_t i = 0; i < pending.size(); ++i) {
      auto& p = pending[i];
      const ErrorKind k = i < sent && kind == ErrorKind::kUnreachable ? ErrorKind::kBroken : kind;
      if (!p->result) p->result = make_error(why, i < sent ? k : ErrorKind::kUnreachable);
      p->wake.cancel();
    }
    pending.clear();
    unwritten = 0;
  }

  asio::awaitable<void> read_loop(std::shared_ptr<Impl> /*self*/, std::uint64_t gen, std::shared_ptr<Link> l,
                                  std::shared_ptr<RespReader> reader) {
    std::vector<char> buf(16 * 1024);
    while (gen == generation) {
      error_code ec;
      const std::size_t n = co_await l->read_some(buf.data(), buf.size(), ec);
      if (gen != generation) co_return;
      if (ec) {
        drop("Redis " + options.url.redacted() + " closed the connection: " + ec.message(), ErrorKind::kBroken);
        co_return;
      }
      if (!reader->feed(buf.data(), n) || reader->buffered() > options.max_reply_bytes) {
        drop("Redis sent a reply larger than " + std::to_string(options.max_reply_bytes) + " bytes",
             ErrorKind::kTooLarge);
        co_return;
      }
      std::string error;
      while (auto reply = reader->next(&error)) {
        if (pending.empty()) {
          drop("Redis sent a reply nobody asked for", ErrorKind::kBroken);
          co_return;
        }
        auto p = std::move(pending.front());
        pending.pop_front();
        // A replica or a primary that is starting (or lost its own primary) answers every
        // command so: reconnect, through DNS, to whatever the name now points at (a failover),
        // with the backoff still growing: such an answer is not a working Redis.
        const bool failover = reply->is_error() && is_failover_error(reply->str);
        if (!answered_since_connect && !failover) {
          answered_since_connect = true;
          backoff = Millis(100);
        }
        std::string why = failover ? reply->str : std::string();
        p->result = std::move(*reply);
        p->wake.cancel();
        if (failover) {
          drop("Redis " + options.url.redacted() + " cannot serve commands: " + why, ErrorKind::kUnreachable);
          co_return;
        }
      }
      if (!error.empty()) {
        drop("Redis: " + error, ErrorKind::kBroken);
        co_return;
      }
    }
  }

  // Started with `writing` set, so there is one writer per connection.
  asio::awaitable<void> write_loop(std::shared_ptr<Impl> /*self*/, std::uint64_t gen, std::shared_ptr<Link> l) {
    std::string batch;
    while (gen == generation && !out.empty()) {
      batch.swap(out);
      out.clear();
      unwritten = 0;  // handed to the connection: these may run from now on
      error_code ec;
      co_await l->write(batch, ec);
      if (gen != generation) co_return;
      if (ec) {
        drop("writing to Redis: " + ec.message(), ErrorKind::kBroken);
        co_return;
      }
      batch.clear();
    }
    if (gen == generation) writing = false;
  }

  asio::awaitable<Result<Reply>> command(std::vector<std::vector<std::string>> commands, Clock::time_point deadline) {
    auto self = shared_from_this();
    std::string bytes;
    for (const auto& args : commands) {
      std::string one = format_command(args);
      if (one.empty()) co_return make_error("the command could not be formatted");
      bytes += one;
    }
    if (commands.empty()) co_return make_error("no command to send");
    while (!ready) {
      if (stopped) co_return make_error("the Redis client is stopped", ErrorKind::kUnreachable);
      if (!connecting && Clock::now() < retry_at) {
        co_return make_error("Redis unavailable (" + last_error + ")", ErrorKind::kUnreachable);
      }
      if (!connecting) {
        connecting = true;
        asio::co_spawn(executor, connect(self), asio::detached);
      }
      if (!co_await waiting.wait(executor, deadline)) {
        co_return make_error("Redis did not accept a connection within the command timeout", ErrorKind::kTimeout);
      }
    }
    // One reply each, in order; the caller waits for the last.
    for (std::size_t i = 1; i < commands.size(); ++i) pending.push_back(std::make_shared<Pending>(executor));
    auto p = std::make_shared<Pending>(executor);
    const auto sent = Clock::now();
    pending.push_back(p);
    out += bytes;
    unwritten += commands.size();
    if (!writing) {
      writing = true;
      asio::co_spawn(executor, write_loop(self, generation, link), asio::detached);
    }
    p->wake.expires_at(deadline);
    error_code ec;
    co_await p->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!p->result) {
      if (Clock::now() - sent < options.command_timeout / 2) {
        // Most of the time went on connecting or on an earlier command of the same call: a
        // fresh connection is not judged by it. The reply, when it comes, is read and dropped.
        co_return make_error("Redis did not answer within the command timeout", ErrorKind::kTimeout);
      }
      // No answer in time: whatever the connection was waiting for, it is not to be trusted now.
      drop("Redis did not answer within " + std::to_string(options.command_timeout.count()) + " ms",
           ErrorKind::kTimeout);
    }
    co_return std::move(*p->result);
  }

  // One subscription connection, read until it ends.
  asio::awaitable<bool> subscribe_once(std::shared_ptr<Impl> /*self*/, std::vector<std::string> channels,
                                       std::function<void(std::string_view, std::string_view)> on_message,
                                       std::function<void()> on_subscribed) {
    std::vector<std::string> subscribe = {"SUBSCRIBE"};
    subscribe.insert(subscribe.end(), channels.begin(), channels.end());
    const std::string request = format_command(subscribe);
    RespReader reader;
    auto opened = co_await open(reader);
    if (!opened || stopped) {
      if (!opened) last_error = opened.message();
      co_return false;
    }
    sub_link = std::move(*opened);
    const std::shared_ptr<Link> l = sub_link;  // alive while its reads wait, whatever stop() does
    error_code ec;
    co_await l->write(request, ec);
    bool up = false;
    std::vector<char> buf(16 * 1024);
    while (!ec && !stopped) {
      const std::size_t n = co_await l->read_some(buf.data(), buf.size(), ec);
      if (ec || !reader.feed(buf.data(), n) || reader.buffered() > options.max_reply_bytes) break;
      std::string error;
      while (auto reply = reader.next(&error)) {
        if (reply->type != Reply::Type::kArray || reply->elements.size() < 3) continue;
        const std::string& kind = reply->elements[0].str;
        if (stopped) break;  // nothing is called back once stop() was
        if (kind == "subscribe" && !up) {
          up = true;
          on_subscribed();
        } else if (kind == "message") {
          on_message(reply->elements[1].str, reply->elements[2].str);
        }
      }
      if (!error.empty()) break;
    }
    l->close();
    if (sub_link == l) sub_link.reset();
    co_return up;
  }

  void stop() {
    stopped = true;
    end_connection("the Redis client is stopped", ErrorKind::kUnreachable);
    waiting.wake_all();
    if (sub_link) sub_link->close();
  }
};

RedisNode::RedisNode(asio::any_io_executor executor, RedisOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

RedisNode::~RedisNode() { impl_->stop(); }

asio::awaitable<Result<Reply>> RedisNode::command(std::vector<std::vector<std::string>> commands,
                                                  Clock::time_point deadline) {
  // Not a coroutine of its own: Impl::command holds the node while it runs.
  return impl_->command(std::move(commands), deadline);
}

asio::awaitable<bool> RedisNode::subscribe_once(std::vector<std::string> channels,
                                                std::function<void(std::string_view, std::string_view)> on_message,
                                                std::function<void()> on_subscribed) {
  auto impl = impl_;  // the node may be dropped from a cluster's map while this reads
  co_return co_await impl->subscribe_once(impl, std::move(channels), std::move(on_message), std::move(on_subscribed));
}

void RedisNode::stop() { impl_->stop(); }
bool RedisNode::connected() const { return impl_->ready; }
std::uint64_t RedisNode::reconnects() const { return impl_->reconnects; }
const RedisOptions& RedisNode::options() const { return impl_->options; }
const std::string& RedisNode::last_error() const { return impl_->last_error; }

}  // namespace signgate::store
