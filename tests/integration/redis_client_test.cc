// The Redis client against Debian's redis-server, started here on loopback: AUTH with an ACL
// user and a password, a database, pipelining from many coroutines, TLS with a throw-away CA
// (the host name checked), a paused server (each command fails within its timeout, the client
// backs off, then recovers), a killed and restarted server, pub/sub, and URL parsing.
#include "store/redis.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "fakes.h"
#include "redis_process.h"

namespace signgate::store {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::TempDir;

using testing::accepts;
using testing::free_port;
using testing::sleep_for;
using testing::with_redis;

// redis-server on 127.0.0.1, with a password for the default user and an ACL user "signgate".
class RedisServer {
 public:
  explicit RedisServer(bool tls = false) : port_(free_port()), tls_(tls) {
    if (tls) {
      const std::string cmd = "sh " + std::string(SIGNGATE_SOURCE) + "/tests/fakes/make_test_ca.sh " + dir_.path();
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make_test_ca.sh failed");
    }
    start();
  }
  ~RedisServer() { kill_now(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void start() {
    std::vector<std::string> args = {"--bind", "127.0.0.1",     "--save", "",      "--appendonly",
                                     "no",     "--requirepass", "s3cret", "--dir", dir_.path()};
    const std::vector<std::string> acl = {"--user", "signgate", "on", ">user-pass", "~*", "&*", "+@all"};
    args.insert(args.end(), acl.begin(), acl.end());
    if (tls_) {
      const std::vector<std::string> t = {"--port",
                                          "0",
                                          "--tls-port",
                                          std::to_string(port_),
                                          "--tls-cert-file",
                                          dir_.path() + "/server.pem",
                                          "--tls-key-file",
                                          dir_.path() + "/server.key",
                                          "--tls-ca-cert-file",
                                          dir_.path() + "/ca.pem",
                                          "--tls-auth-clients",
                                          "no"};
      args.insert(args.end(), t.begin(), t.end());
    } else {
      args.insert(args.end(), {"--port", std::to_string(port_)});
    }
    pid_ = testing::spawn_redis(std::move(args), port_);
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  void kill_now() { testing::kill_redis(pid_); }
  std::uint16_t port() const { return port_; }
  std::string ca() const { return dir_.path() + "/ca.pem"; }

 private:
  TempDir dir_;
  std::uint16_t port_;
  bool tls_;
  pid_t pid_ = -1;
};

RedisOptions options_for(const std::string& url, const std::string& ca = {}) {
  auto u = parse_redis_url(url);
  if (!u) throw std::runtime_error(u.message());
  RedisOptions o;
  o.url = *u;
  o.ca_file = ca;
  o.command_timeout = 300ms;
  o.connect_timeout = 500ms;
  o.max_backoff = 400ms;
  return o;
}

// Named, not braced inside co_await: GCC 12 loses such temporaries.
const std::vector<std::string> kPing = {"PING"};

TEST(RedisUrl, Parses) {
  auto u = parse_redis_url("rediss://signgate:p%40ss@cache.internal:6380/3");
  ASSERT_TRUE(u) << u.message();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->user, "signgate");
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->db, 3);
  EXPECT_EQ(u->redacted(), "rediss://signgate:***@cache.internal:6380/3");
  auto v = parse_redis_url("redis://:pw@[::1]");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "::1");
  EXPECT_EQ(v->port, 6379);
  EXPECT_EQ(v->user, "");
  EXPECT_EQ(v->password, "pw");
  for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h/16", "redis://h/x",
                          "redis://[::1", "redis://h h"}) {
    EXPECT_FALSE(parse_redis_url(bad)) << bad;
  }
}

TEST(Redis, AuthDatabaseAndPipelining) {
  RedisServer server;
  const std::string base = "redis://signgate:user-pass@127.0.0.1:" + std::to_string(server.port());
  with_redis(options_for(base + "/2"), [](Redis& r) -> asio::awaitable<void> {
    std::vector<std::string> set_command = {"SET", "k", "v"};
    auto set = co_await r.command(std::move(set_command));
    EXPECT_TRUE(set) << set.message();
    if (set) {
      EXPECT_EQ(set->str, "OK");
    }
    // 200 commands from 200 coroutines at once, on one connection, answered in order.
    int done = 0;
    for (int i = 0; i < 200; ++i) {
      asio::co_spawn(
          co_await asio::this_coro::executor,
          [&r, &done, i]() -> asio::awaitable<void> {
            std::vector<std::string> n_command = {"INCRBY", "counter", std::to_string(i)};
            auto n = co_await r.command(std::move(n_command));
            EXPECT_TRUE(n) << n.message();
            ++done;
          },
          asio::detached);
    }
    while (done < 200) co_await sleep_for(5ms);
    std::vector<std::string> total_command = {"GET", "counter"};
    auto total = co_await r.command(std::move(total_command));
    EXPECT_TRUE(total && total->str == std::to_string(199 * 200 / 2));
    std::vector<std::string> db_command = {"CLIENT", "INFO"};
    auto db = co_await r.command(std::move(db_command));
    EXPECT_TRUE(db && db->str.find(" db=2 ") != std::string::npos) << (db ? db->str : db.message());
    std::vector<std::string> wrong_command = {"INCR", "k"};
    auto wrong = co_await r.command(std::move(wrong_command));  // an error reply is a value
    EXPECT_TRUE(wrong && wrong->is_error());
  });
  // The same key in database 0 is not there; a wrong password is a readable failure.
  with_redis(options_for("redis://:s3cret@127.0.0.1:" + std::to_string(server.port())),
             [](Redis& r) -> asio::awaitable<void> {
               std::vector<std::string> get_command = {"GET", "k"};
               auto get = co_await r.command(std::move(get_command));
               EXPECT_TRUE(get && get->type == Reply::Type::kNil);
             });
  with_redis(options_for("redis://:wrong@127.0.0.1:" + std::to_string(server.port())),
             [](Redis& r) -> asio::awaitable<void> {
               std::vector<std::string> get_command = {"GET", "k"};
               auto get = co_await r.command(std::move(get_command));
               EXPECT_FALSE(get);
               if (!get) {
                 EXPECT_NE(get.message().find("AUTH refused"), std::string::npos) << get.message();
                 EXPECT_EQ(get.message().find("wrong"), std::string::npos) << "no password in messages";
               }
             });
}

TEST(Redis, TlsWithTheHostNameChecked) {
  RedisServer server(true);
  const std::string port = std::to_string(server.port());
  with_redis(options_for("rediss://:s3cret@127.0.0.1:" + port, server.ca()), [](Redis& r) -> asio::awaitable<void> {
    auto pong = co_await r.command(kPing);
    EXPECT_TRUE(pong && pong->str == "PONG") << (pong ? pong->str : pong.message());
  });
  // Without the CA, the certificate is not trusted.
  with_redis(options_for("rediss://:s3cret@127.0.0.1:" + port), [](Redis& r) -> asio::awaitable<void> {
    auto pong = co_await r.command(kPing);
    EXPECT_FALSE(pong);
  });
  // Plain text to a TLS port fails, within the timeout.
  with_redis(options_for("redis://:s3cret@127.0.0.1:" + port), [](Redis& r) -> asio::awaitable<void> {
    auto pong = co_await r.command(kPing);
    EXPECT_FALSE(pong);
  });
}

// A paused Redis: each command fails within its timeout; while backing off, at once; once it
// runs again the client reconnects by itself. Killed and restarted: the same.
TEST(Redis, PausedKilledAndRestarted) {
  RedisServer server;
  with_redis(options_for("redis://:s3cret@127.0.0.1:" + std::to_string(server.port())),
             [&server](Redis& r) -> asio::awaitable<void> {
               EXPECT_TRUE(co_await r.command(kPing));
               server.pause();
               auto t0 = std::chrono::steady_clock::now();
               auto stuck = co_await r.command(kPing);
               EXPECT_FALSE(stuck);
               EXPECT_EQ(stuck.kind(), ErrorKind::kTimeout);
               EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "bounded by the command timeout";
               auto fast = co_await r.command(kPing);
               EXPECT_FALSE(fast) << "backing off: fails at once";
               server.resume();
               bool back = false;
               for (int i = 0; i < 100 && !back; ++i) {
                 back = static_cast<bool>(co_await r.command(kPing));
                 if (!back) co_await sleep_for(50ms);
               }
               EXPECT_TRUE(back) << "reconnected after the pause";
               server.kill_now();
               EXPECT_FALSE(co_await r.command(kPing));
               server.start();
               back = false;
               for (int i = 0; i < 100 && !back; ++i) {
                 back = static_cast<bool>(co_await r.command(kPing));
                 if (!back) co_await sleep_for(50ms);
               }
               EXPECT_TRUE(back) << "reconnected after the restart";
               EXPECT_GE(r.reconnects(), 2u);
             });
}

TEST(Redis, SubscribeAndReconnect) {
  RedisServer server;
  const auto options = options_for("redis://:s3cret@127.0.0.1:" + std::to_string(server.port()));
  with_redis(options, [&server](Redis& r) -> asio::awaitable<void> {
    std::vector<std::string> got;
    int ups = 0;
    r.subscribe(
        {"signgate:test"}, [&got](std::string_view, std::string_view payload) { got.emplace_back(payload); },
        [&ups](bool up) { ups += up ? 1 : 0; });
    for (int i = 0; i < 100 && ups == 0; ++i) co_await sleep_for(20ms);
    EXPECT_EQ(ups, 1);
    std::vector<std::string> publish = {"PUBLISH", "signgate:test", "one"};
    EXPECT_TRUE(co_await r.command(std::move(publish)));
    for (int i = 0; i < 100 && got.empty(); ++i) co_await sleep_for(10ms);
    EXPECT_EQ(got, std::vector<std::string>{"one"});
    server.kill_now();
    server.start();
    for (int i = 0; i < 200 && ups < 2; ++i) co_await sleep_for(20ms);
    EXPECT_EQ(ups, 2) << "subscribed again after the restart";
    for (int i = 0; i < 100 && got.size() < 2; ++i) {
      std::vector<std::string> again = {"PUBLISH", "signgate:test", "two"};
      (void)co_await r.command(std::move(again));
      co_await sleep_for(20ms);
    }
    EXPECT_EQ(got.back(), "two");
  });
}

// A script runs by its SHA1; after SCRIPT FLUSH (or a restart) the client sends it whole again.
TEST(Redis, ScriptsSurviveAFlush) {
  RedisServer server;
  with_redis(options_for("redis://:s3cret@127.0.0.1:" + std::to_string(server.port())),
             [](Redis& r) -> asio::awaitable<void> {
               const RedisScript script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
               for (int round = 0; round < 2; ++round) {
                 std::vector<std::string> keys = {"sk"}, args = {"arg"};
                 auto reply = co_await r.eval(script, std::move(keys), std::move(args));
                 EXPECT_TRUE(reply && reply->type == Reply::Type::kArray && reply->elements.size() == 3)
                     << (reply ? reply->str : reply.message());
                 if (reply && reply->elements.size() == 3) {
                   EXPECT_EQ(reply->elements[1].str, "arg");
                   EXPECT_EQ(reply->elements[2].integer, round + 1);
                 }
                 // Redis knows it by the SHA1 the client computed.
                 std::vector<std::string> exists = {"SCRIPT", "EXISTS", script.sha1};
                 auto known = co_await r.command(std::move(exists));
                 EXPECT_TRUE(known && known->elements.size() == 1 && known->elements[0].integer == 1);
                 std::vector<std::string> flush = {"SCRIPT", "FLUSH"};
                 EXPECT_TRUE(co_await r.command(std::move(flush)));
               }
             });
}

// A server that answers each connection's first command with `answer`, then keeps it open.
class ScriptedServer {
 public:
  ScriptedServer(asio::io_context& ioc, std::vector<std::string> answers)
      : acceptor_(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), answers_(std::move(answers)) {
    asio::co_spawn(ioc, serve(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_; }
  void stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& s : sockets_) s->close(ec);
  }

 private:
  asio::awaitable<void> serve() {
    for (;;) {
      auto socket = std::make_shared<asio::ip::tcp::socket>(acceptor_.get_executor());
      boost::system::error_code ec;
      co_await acceptor_.async_accept(*socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      sockets_.push_back(socket);
      const std::string answer = answers_[std::min<std::size_t>(accepted_++, answers_.size() - 1)];
      char buf[512];
      (void)co_await socket->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      co_await asio::async_write(*socket, asio::buffer(answer), asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::string> answers_;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> sockets_;
  int accepted_ = 0;
};

// What a broken or hostile Redis sends is bounded: an array announcing more elements than a
// reply may have drops the connection before anything is allocated for them. A replica (or a
// primary still loading) answers READONLY/LOADING: the reply is the caller's, and the client
// reconnects, so a failover's new primary is found through DNS.
TEST(Redis, HostileAndFailoverReplies) {
  asio::io_context ioc;
  ScriptedServer server(
      ioc, {"*300000000\r\n:1\r\n", "-READONLY You can't write against a read only replica.\r\n", "+PONG\r\n"});
  auto options = options_for("redis://127.0.0.1:" + std::to_string(server.port()));
  options.max_backoff = 100ms;
  options.cluster = ClusterMode::kOff;  // a scripted server, not one to ask CLUSTER SHARDS
  Redis redis(ioc.get_executor(), options);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto huge = co_await redis.command(kPing);
        EXPECT_FALSE(huge);
        if (!huge) {
          EXPECT_NE(huge.message().find("elements"), std::string::npos) << huge.message();
        }
        Result<Reply> readonly = make_error("not yet");
        for (int i = 0; i < 50 && !readonly; ++i) {
          readonly = co_await redis.command(kPing);
          if (!readonly) co_await sleep_for(50ms);
        }
        EXPECT_TRUE(readonly && readonly->is_error() && readonly->str.rfind("READONLY", 0) == 0)
            << (readonly ? readonly->str : readonly.message());
        Result<Reply> pong = make_error("not yet");
        for (int i = 0; i < 50 && !pong; ++i) {
          pong = co_await redis.command(kPing);
          if (!pong) co_await sleep_for(50ms);
        }
        EXPECT_TRUE(pong && pong->str == "PONG") << (pong ? pong->str : pong.message());
        EXPECT_GE(server.accepted(), 3) << "a new connection after each";
        redis.stop();
        server.stop();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
}

}  // namespace
}  // namespace signgate::store
