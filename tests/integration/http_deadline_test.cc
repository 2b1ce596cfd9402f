// The deadlines of the listener's and the upstream client's reads and writes (http/deadline.h),
// over real loopback sockets: a head, a body, a write to a caller who does not read and an
// upstream that does not answer each end at their timeout, not before it and not long after
// (one sweep, 100 ms, late at most); a connection kept busy is never cut; a thread without a
// sweeper keeps Beast's own timers.
#include "http/client.h"
#include "http/deadline.h"
#include "http/server.h"
#include "integration/fakes.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

namespace signgate::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kTimeout = 300ms;
// Late by one sweep at most; more only on a machine too slow to run the test (ASan, noise).
constexpr auto kLateAtMost = 5s;

// Polls `done` for up to kLateAtMost: what the server counts after it closed a socket may
// come a moment after the caller saw the close.
template <class F>
bool eventually(F done) {
  const auto until = Clock::now() + kLateAtMost;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A deadline that never fires fails the test instead of hanging it.
void give_up_after_10s(int fd) {
  const timeval limit{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
}

// Five requests on `s`, each answered before the next, 2/3 of the timeout apart: three
// timeouts in all on one connection.
template <class Stream>
void keep_busy(Stream& s) {
  for (int i = 0; i < 5; ++i) {
    asio::write(s, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::string answer;
    char buf[512];
    while (answer.find("ok") == std::string::npos) answer.append(buf, s.read_some(asio::buffer(buf)));
    std::this_thread::sleep_for(kTimeout * 2 / 3);
  }
}

ServerOptions quick_options() {
  ServerOptions o;
  o.port = 0;
  o.threads = 1;
  o.header_timeout = kTimeout;
  o.body_timeout = kTimeout;
  o.write_timeout = kTimeout;
  o.keep_alive_timeout = kTimeout;
  o.linger_timeout = 100ms;
  return o;
}

struct Seen {
  std::atomic<int> requests{0};
  std::atomic<int> rejected_408{0};
  std::atomic<int> body_timeouts{0};
  std::atomic<int> failed_writes{0};
  std::promise<Clock::time_point> write_failed;
};

// "/stream" answers 64 MiB in 64 KiB pieces (more than loopback's buffers hold); "/body" reads
// the body; anything else answers "ok".
Handler handler(Seen& seen) {
  return [&seen](const RequestHead& head, BodyReader& body, Responder& out) -> asio::awaitable<void> {
    ++seen.requests;
    if (head.target() == "/body") {
      const Body b = co_await body.read(1 << 20);
      if (b.error == BodyError::kTimeout) ++seen.body_timeouts;
      co_await out.send(b.error == BodyError::kNone ? 200 : 408, {}, "read");
      co_return;
    }
    if (head.target() == "/stream") {
      if (!co_await out.start_stream(200, {})) co_return;
      const std::string piece(64 * 1024, 'x');
      for (int i = 0; i < 1024; ++i) {
        if (!co_await out.write(piece)) {
          ++seen.failed_writes;
          seen.write_failed.set_value(Clock::now());
          co_return;
        }
      }
      co_await out.finish();
      co_return;
    }
    co_await out.send(200, {}, "ok");
  };
}

class Listener : public ::testing::Test {
 protected:
  void SetUp() override { start(quick_options()); }

  void start(const ServerOptions& options) {
    server_ = std::make_unique<Server>(options, handler(seen_),
                                       [this](unsigned status, const std::string&, std::string_view) {
                                         if (status == 408) ++seen_.rejected_408;
                                       });
    auto port = server_->listen();
    ASSERT_TRUE(port) << port.message();
    port_ = *port;
    server_->start();
  }
  void TearDown() override { server_->stop(1s); }

  // How many deadlines the server's loop has armed, read on that loop; SIZE_MAX when it runs none.
  std::size_t armed_on_the_loop() {
    std::promise<std::size_t> armed;
    asio::post(server_->loop(0), [&armed] {
      const Deadlines* d = Deadlines::current();
      armed.set_value(d != nullptr ? d->armed() : SIZE_MAX);
    });
    return armed.get_future().get();
  }

  tcp::socket connect() {
    tcp::socket s(io_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    give_up_after_10s(s.native_handle());
    return s;
  }

  // Reads until the server closes; what it sent.
  static std::string until_closed(tcp::socket& s) {
    std::string out;
    char buf[4096];
    boost::system::error_code ec;
    for (;;) {
      const std::size_t n = s.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) return out;
    }
  }

  asio::io_context io_;
  Seen seen_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

// Half a head, then nothing: closed at header_timeout and told as a 408 (the socket is closed
// under the read, as Beast's own timeout and nginx do, so no answer reaches the caller).
TEST_F(Listener, AHeadNotFinishedInTimeIs408) {
  tcp::socket s = connect();
  const auto start = Clock::now();
  asio::write(s, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n")));
  EXPECT_TRUE(eventually([&] { return armed_on_the_loop() == 1; }))
      << "the head's deadline is the loop's sweeper's, not a Beast timer";
  until_closed(s);
  const auto took = Clock::now() - start;
  EXPECT_TRUE(eventually([&] { return seen_.rejected_408 == 1; }));
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, kTimeout + kLateAtMost);
  EXPECT_EQ(seen_.requests, 0);
}

// A kept-alive connection with no next request is closed at keep_alive_timeout.
TEST_F(Listener, AnIdleKeptAliveConnectionIsClosed) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  const auto start = Clock::now();
  const std::string answer = until_closed(s);
  const auto took = Clock::now() - start;
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, kTimeout + kLateAtMost);
}

// Each request's head resets the deadline: requests kept coming over three timeouts are all
// answered on one connection.
TEST_F(Listener, ABusyConnectionIsNeverCut) {
  tcp::socket s = connect();
  keep_busy(s);
  EXPECT_EQ(seen_.requests, 5);
}

// A body announced and never sent: the handler's read ends with kTimeout at body_timeout.
TEST_F(Listener, ABodyNotSentInTimeTimesOut) {
  tcp::socket s = connect();
  const auto start = Clock::now();
  asio::write(s, asio::buffer(std::string_view("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")));
  until_closed(s);
  const auto took = Clock::now() - start;
  EXPECT_TRUE(eventually([&] { return seen_.body_timeouts == 1; }));
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, kTimeout + kLateAtMost);
}

// A caller who stops reading a long answer: the write that cannot finish fails at write_timeout
// and the handler is told.
TEST_F(Listener, AWriteTheCallerDoesNotReadTimesOut) {
  tcp::socket s = connect();
  const auto start = Clock::now();
  asio::write(s, asio::buffer(std::string_view("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto failed = seen_.write_failed.get_future();
  ASSERT_EQ(failed.wait_for(kTimeout + kLateAtMost + 5s), std::future_status::ready);
  EXPECT_GE(failed.get() - start, kTimeout) << "not before the write had write_timeout to finish";
  EXPECT_EQ(seen_.failed_writes, 1);
}

// A certificate for 127.0.0.1 from a test CA (tests/fakes/make_test_ca.sh).
struct TestCa {
  testing::TempDir dir;
  TestCa() {
    const std::string script = std::string(SIGNGATE_SOURCE) + "/tests/fakes/make_test_ca.sh " + dir.path();
    if (std::system(script.c_str()) != 0) throw std::runtime_error("make_test_ca.sh failed");
  }
  std::string ca() const { return dir.path() + "/ca.pem"; }
  std::string cert() const { return dir.path() + "/server.pem"; }
  std::string key() const { return dir.path() + "/server.key"; }
};

// Under TLS the handshake runs under Beast's timer (header_timeout); that limit must end with
// the handshake, or a kept-alive TLS connection would be cut header_timeout after it began.
TEST_F(Listener, ATlsConnectionKeptBusyOutlivesTheHandshakesLimit) {
  const TestCa ca;
  server_->stop(1s);
  ServerOptions options = quick_options();
  options.tls_cert = ca.cert();
  options.tls_key = ca.key();
  start(options);
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.load_verify_file(ca.ca());
  context.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<tcp::socket> s(io_, context);
  s.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
  give_up_after_10s(s.next_layer().native_handle());
  s.handshake(asio::ssl::stream_base::client);
  keep_busy(s);
  EXPECT_EQ(seen_.requests, 5);
}

// The upstream client: a server that accepts and never answers. With the loop's sweeper (as
// on the gateway's loops) and without it (Beast's timers), send() fails as a timeout after
// first_byte_timeout, naming it.
void upstream_that_never_answers(bool swept) {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  tcp::socket held(ioc);
  acceptor.async_accept(held, [](const boost::system::error_code&) {});
  std::optional<Deadlines> deadlines;
  std::optional<Deadlines::Scope> scope;
  if (swept) {
    deadlines.emplace(ioc);
    scope.emplace(*deadlines);
  }
  ClientOptions options;
  options.first_byte_timeout = kTimeout;
  Client client(ioc.get_executor(), options);
  std::string error;
  ErrorKind kind = ErrorKind::kOther;
  std::size_t armed_while_waiting = 0;
  const auto start = Clock::now();
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::string text = "http://127.0.0.1:" + std::to_string(port) + "/";
        std::string why;
        const Url u = *parse_url(text, &why);
        asio::steady_timer peek(ioc);
        peek.expires_after(kTimeout / 2);
        peek.async_wait([&](const boost::system::error_code&) {
          if (deadlines) armed_while_waiting = deadlines->armed();
        });
        const Request request{"GET", "/", "", {{"Host", u.host_header()}}};
        const std::string_view no_body;
        auto response = co_await client.send(u, request, no_body);
        if (!response) {
          error = response.message();
          kind = response.kind();
        }
      },
      asio::detached);
  ioc.run();
  const auto took = Clock::now() - start;
  EXPECT_EQ(kind, ErrorKind::kTimeout) << error;
  EXPECT_NE(error.find("timed out after 300 ms"), std::string::npos) << error;
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, kTimeout + kLateAtMost);
  EXPECT_EQ(armed_while_waiting, swept ? 1u : 0u) << "the wait for the head is the sweeper's only with one";
  if (deadlines) {
    EXPECT_EQ(deadlines->armed(), 0u);
  }
}

TEST(UpstreamDeadline, AnAnswerThatNeverComesTimesOutOnASweptLoop) { upstream_that_never_answers(true); }

// Connecting (TLS included) runs under Beast's timer and connect_timeout; that limit must end
// once connected, or every answer slower than connect_timeout (Bedrock's, always over TLS)
// would be cut. Twice on one connection, the second one kept alive from the first.
TEST(UpstreamDeadline, AnAnswerSlowerThanConnectTimeoutArrivesOverTls) {
  const TestCa ca;
  testing::FakeProcess fake("aws_fake.py", {"--tls-cert", ca.cert(), "--tls-key", ca.key()});
  asio::io_context ioc;
  Deadlines deadlines(ioc);
  const Deadlines::Scope scope(deadlines);
  ClientOptions options;
  options.ca_file = ca.ca();
  options.connect_timeout = 200ms;
  options.first_byte_timeout = 5s;
  Client client(ioc.get_executor(), options);
  std::vector<unsigned> statuses;
  std::string error;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::string why;
        const Url u = *parse_url(fake.url() + "/_fake/slow?ms=500", &why);
        const Request request{"GET", u.path, u.query, {{"Host", u.host_header()}}};
        const std::string_view no_body;
        for (int i = 0; i < 2; ++i) {
          auto response = co_await client.send(u, request, no_body);
          if (!response) {
            error = response.message();
            co_return;
          }
          auto body = co_await response->read_all(1 << 20);
          statuses.push_back(response->status());
        }
      },
      asio::detached);
  ioc.run();
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200})) << error;
  EXPECT_EQ(client.stats().connections_opened, 1u);
}
TEST(UpstreamDeadline, AnAnswerThatNeverComesTimesOutWithBeastsTimers) { upstream_that_never_answers(false); }

}  // namespace
}  // namespace signgate::http
