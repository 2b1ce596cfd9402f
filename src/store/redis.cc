#include "store/redis.h"

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
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <optional>
#include <random>

#include "common/crypto.h"
#include "common/percent.h"
#include "http/tls_client.h"

namespace signgate::store {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

std::string RedisUrl::redacted() const {
  std::string out = tls ? "rediss://" : "redis://";
  if (!user.empty() || !password.empty()) out += (user.empty() ? "" : user) + (password.empty() ? "@" : ":***@");
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port) + "/" + std::to_string(db);
  return out;
}

Result<RedisUrl> parse_redis_url(std::string_view text) {
  RedisUrl u;
  std::string_view rest;
  if (text.rfind("redis://", 0) == 0) {
    rest = text.substr(8);
  } else if (text.rfind("rediss://", 0) == 0) {
    u.tls = true;
    rest = text.substr(9);
  } else {
    return make_error("must start with redis:// or rediss://");
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    u.user = uri_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = uri_decode(userinfo.substr(colon + 1));
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return make_error("an IPv6 host must end with ']'");
    u.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return make_error("unexpected text after the IPv6 host");
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return make_error("names no host");
  if (u.host.find_first_of(" \t\r\n/?#") != std::string::npos)
    return make_error("the host has characters hosts cannot");
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return make_error("the port must be a number from 1 to 65535");
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  if (!path.empty()) {
    int db = 0;
    const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc() || end != path.data() + path.size() || db < 0 || db > 15) {
      return make_error("the path must be a database number from 0 to 15");
    }
    u.db = db;
  }
  return u;
}

namespace {

// Errors a Redis answers every command with while it cannot serve them.
bool is_failover(std::string_view error) {
  return error.rfind("READONLY", 0) == 0 || error.rfind("LOADING", 0) == 0 || error.rfind("MASTERDOWN", 0) == 0 ||
         // Redis 6 wraps what a script met: "ERR Error running script ...: -READONLY You can't write..."
         (error.rfind("ERR Error running script", 0) == 0 && error.find("-READONLY") != std::string_view::npos);
}

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

// hiredis's reply reader, building our Reply directly (no redisReply tree to copy). An array
// may announce any number of elements before sending them: a reply is refused once its arrays
// announce more than kMaxElements in all, before anything is allocated for them.
constexpr std::size_t kMaxElements = 1u << 18;

struct ReplyBuild {
  std::size_t elements = 0;  // announced so far by the reply being read
  bool too_many = false;
};

Reply* place(const redisReadTask* task, Reply::Type type) {
  Reply* r = nullptr;
  if (task->parent != nullptr) {
    auto* parent = static_cast<Reply*>(task->parent->obj);
    r = &parent->elements[static_cast<std::size_t>(task->idx)];
  } else {
    r = new Reply();  // NOLINT(cppcoreguidelines-owning-memory): hiredis owns it until next()
  }
  r->type = type;
  return r;
}

void* create_string(const redisReadTask* task, char* data, std::size_t len) {
  const Reply::Type type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::kError
                           : task->type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                                              : Reply::Type::kString;
  Reply* r = place(task, type);
  r->str.assign(data, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* build = static_cast<ReplyBuild*>(task->privdata);
  const auto n = static_cast<std::size_t>(std::max(elements, 0));
  if (build == nullptr) return nullptr;
  if (n > kMaxElements - build->elements) {
    build->too_many = true;
    return nullptr;  // hiredis's reader fails with "Out of memory"
  }
  build->elements += n;
  Reply* r = place(task, Reply::Type::kArray);
  r->elements.resize(n);
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  Reply* r = place(task, Reply::Type::kInteger);
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) { return place(task, Reply::Type::kNil); }

// Only a whole reply (the root) is ever freed: its elements are inside it.
void free_reply(void* reply) { delete static_cast<Reply*>(reply); }  // NOLINT(cppcoreguidelines-owning-memory)

redisReplyObjectFunctions kReplyFunctions = {create_string, create_array, create_integer, create_nil, free_reply};

class Reader {
 public:
  Reader() : r_(redisReaderCreateWithFunctions(&kReplyFunctions)) {
    if (r_ != nullptr) r_->privdata = &build_;
  }
  ~Reader() {
    if (r_ != nullptr) redisReaderFree(r_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool feed(const char* data, std::size_t n) { return r_ != nullptr && redisReaderFeed(r_, data, n) == REDIS_OK; }
  // Bytes fed and not yet made into replies.
  std::size_t buffered() const { return r_ == nullptr ? 0 : r_->len - r_->pos; }
  // A reply, nothing yet (nullopt and no error), or a protocol error.
  std::optional<Reply> next(std::string* error) {
    void* raw = nullptr;
    if (r_ == nullptr || redisReaderGetReply(r_, &raw) != REDIS_OK) {
      *error = r_ != nullptr && r_->errstr[0] != '\0' ? r_->errstr : "unreadable reply";
      if (build_.too_many) *error = "a reply of more than " + std::to_string(kMaxElements) + " elements";
      return std::nullopt;
    }
    if (raw == nullptr) return std::nullopt;
    build_.elements = 0;
    std::unique_ptr<Reply> owned(static_cast<Reply*>(raw));
    return std::move(*owned);
  }

 private:
  ReplyBuild build_;
  redisReader* r_;
};

// A connection to Redis, plain or TLS: connect, then read and write.
class Link {
 public:
  Link(const asio::any_io_executor& ex, asio::ssl::context* tls) : tcp_(ex) {
    if (tls != nullptr) tls_.emplace(tcp_, *tls);
  }

  asio::awaitable<Result<bool>> connect(const RedisUrl& url, Millis timeout) {
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
      (void)asio::ip::make_address(url.host, not_ip);
      if (!http::prepare_client_tls(*tls_, url.host, !not_ip)) co_return make_error("TLS: could not set SNI");
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

struct Redis::Impl : std::enable_shared_from_this<Redis::Impl> {
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
  std::vector<asio::steady_timer*> waiting;      // callers waiting for a connection
  Clock::time_point retry_at{};                  // no new connection before this
  Millis backoff{100};
  bool answered_since_connect = false;
  std::string last_error;
  std::uint64_t reconnects = 0;
  std::uint64_t connections = 0;

  // The subscription.
  std::shared_ptr<Link> sub_link;
  std::shared_ptr<asio::steady_timer> sub_wake;

  // Opens a connection, authenticated and on its database, and hands it the reader.
  asio::awaitable<Result<std::shared_ptr<Link>>> open(Reader& reader) {
    if (!tls_error.empty()) co_return make_error(tls_error, ErrorKind::kUnreachable);
    auto l = std::make_shared<Link>(executor, options.url.tls ? &tls_context : nullptr);
    auto connected = co_await l->connect(options.url, options.connect_timeout);
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
    auto reader = std::make_shared<Reader>();
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
    for (auto* t : waiting) t->cancel();
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
    for (auto& p : pending) {
      if (!p->result) p->result = make_error(why, kind);
      p->wake.cancel();
    }
    pending.clear();
  }

  asio::awaitable<void> read_loop(std::shared_ptr<Impl> /*self*/, std::uint64_t gen, std::shared_ptr<Link> l,
                                  std::shared_ptr<Reader> reader) {
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
        const bool failover = reply->is_error() && is_failover(reply->str);
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

  asio::awaitable<Result<Reply>> command(std::vector<std::string> args, Clock::time_point deadline) {
    auto self = shared_from_this();
    std::string bytes = format_command(args);
    if (bytes.empty()) co_return make_error("the command could not be formatted");
    while (!ready) {
      if (stopped) co_return make_error("the Redis client is stopped", ErrorKind::kUnreachable);
      if (!connecting && Clock::now() < retry_at) {
        co_return make_error("Redis unavailable (" + last_error + ")", ErrorKind::kUnreachable);
      }
      if (!connecting) {
        connecting = true;
        asio::co_spawn(executor, connect(self), asio::detached);
      }
      asio::steady_timer mine(executor);  // each its own: one shared timer's waiters would cancel each other
      mine.expires_at(deadline);
      waiting.push_back(&mine);
      error_code ec;
      co_await mine.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      waiting.erase(std::find(waiting.begin(), waiting.end(), &mine));
      if (!ec)
        co_return make_error("Redis did not accept a connection within the command timeout", ErrorKind::kTimeout);
    }
    auto p = std::make_shared<Pending>(executor);
    const auto sent = Clock::now();
    pending.push_back(p);
    out += bytes;
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

  asio::awaitable<void> subscription(std::shared_ptr<Impl> /*self*/, std::vector<std::string> channels,
                                     std::function<void(std::string_view, std::string_view)> on_message,
                                     std::function<void(bool)> on_state) {
    Millis delay(100);
    std::vector<std::string> subscribe = {"SUBSCRIBE"};
    subscribe.insert(subscribe.end(), channels.begin(), channels.end());
    const std::string request = format_command(subscribe);
    while (!stopped) {
      Reader reader;
      auto opened = co_await open(reader);
      if (opened && !stopped) {
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
              delay = Millis(100);
              on_state(true);
            } else if (kind == "message") {
              on_message(reply->elements[1].str, reply->elements[2].str);
            }
          }
          if (!error.empty()) break;
        }
        if (sub_link) sub_link->close();
        sub_link.reset();
        if (up && !stopped) on_state(false);
      }
      if (stopped) break;
      sub_wake = std::make_shared<asio::steady_timer>(executor);
      sub_wake->expires_after(delay);
      delay = std::min(delay * 2, options.max_backoff);
      error_code ec;
      co_await sub_wake->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  void stop() {
    stopped = true;
    end_connection("the Redis client is stopped", ErrorKind::kUnreachable);
    for (auto* t : waiting) t->cancel();
    if (sub_link) sub_link->close();
    if (sub_wake) sub_wake->cancel();
  }
};

Redis::Redis(asio::any_io_executor executor, RedisOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

Redis::~Redis() { impl_->stop(); }

asio::awaitable<Result<Reply>> Redis::command(std::vector<std::string> args) {
  const auto deadline = Clock::now() + impl_->options.command_timeout;
  // clang-tidy takes the coroutine's frame clean-up at co_return for a use of the moved parameter.
  co_return co_await impl_->command(std::move(args), deadline);  // NOLINT(bugprone-use-after-move)
}

RedisScript::RedisScript(std::string lua) : text(std::move(lua)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr) == 1) sha1 = hex_lower(digest, size);
}

asio::awaitable<Result<Reply>> Redis::eval(const RedisScript& script, std::vector<std::string> keys,
                                           std::vector<std::string> args) {
  // One deadline for the call, however many round trips it takes.
  const auto deadline = Clock::now() + impl_->options.command_timeout;
  std::vector<std::string> command = {"EVALSHA", script.sha1, std::to_string(keys.size())};
  command.insert(command.end(), std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
  command.insert(command.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  auto reply = co_await impl_->command(command, deadline);
  if (reply && reply->is_error() && reply->str.rfind("NOSCRIPT", 0) == 0) {
    // Past the deadline, it is not sent: Redis would run it while the caller has given up.
    if (Clock::now() >= deadline) co_return make_error("Redis did not run the script in time", ErrorKind::kTimeout);
    // Not known yet (a new or restarted Redis, SCRIPT FLUSH): EVAL runs it and keeps it.
    command[0] = "EVAL";
    command[1] = script.text;
    reply = co_await impl_->command(std::move(command), deadline);
  }
  co_return reply;
}

void Redis::subscribe(std::vector<std::string> channels,
                      std::function<void(std::string_view, std::string_view)> on_message,
                      std::function<void(bool)> on_state) {
  asio::co_spawn(impl_->executor,
                 impl_->subscription(impl_, std::move(channels), std::move(on_message), std::move(on_state)),
                 asio::detached);
}

void Redis::stop() { impl_->stop(); }
bool Redis::connected() const { return impl_->ready; }
std::uint64_t Redis::reconnects() const { return impl_->reconnects; }

}  // namespace signgate::store
