// The upstream client against real local servers: keep-alive pooling, a server that closed
// a pooled connection, timeouts, TLS with a test CA, CONNECT proxies, streamed bodies.
#include "aws/sigv4.h"
#include "http/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdlib>

#include "aws/eventstream.h"
#include "integration/fakes.h"

namespace signgate::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::TempDir;

Url url_of(const std::string& text) {
  std::string error;
  auto u = parse_url(text, &error);
  if (!u) throw std::runtime_error(error);
  return *u;
}

http::Request get(const Url& u) { return {"GET", u.path, u.query, {{"Host", u.host_header()}}}; }

// Runs `body(client)` as a coroutine on a fresh loop with one client, to completion.
template <class F>
void with_client(const ClientOptions& options, F body) {
  asio::io_context ioc;
  Client client(ioc.get_executor(), options);
  std::exception_ptr failure;
  asio::co_spawn(ioc, body(client), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

struct Outcome {
  unsigned status = 0;
  std::string body;
  std::string error;
  ErrorKind kind = ErrorKind::kOther;
};

asio::awaitable<Outcome> roundtrip(Client& client, const std::string& url) {
  const Url u = url_of(url);
  auto response = co_await client.send(u, get(u), {});
  if (!response) co_return Outcome{0, {}, response.message(), response.kind()};
  auto body = co_await response->read_all(1 << 20);
  if (!body) co_return Outcome{response->status(), {}, body.message(), body.kind()};
  co_return Outcome{response->status(), *body, {}};
}

// Sequential requests to one origin share one connection.
TEST(HttpClient, KeepAliveReusesOneConnection) {
  auto fake = testing::start_aws_fake();
  ClientStats stats;
  with_client({}, [&](Client& client) -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      const Outcome o = co_await roundtrip(client, fake.url() + "/_fake/stats");
      EXPECT_EQ(o.status, 200u) << o.error;
    }
    stats = client.stats();
    EXPECT_EQ(client.idle_connections(), 1u);
  });
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 4u);
}

// A server may close an idle keep-alive connection; the next request goes out on a new one.
TEST(HttpClient, AConnectionTheServerClosedIsRetriedOnce) {
  auto fake = testing::start_aws_fake();
  with_client({}, [&](Client& client) -> asio::awaitable<void> {
    const Outcome first = co_await roundtrip(client, fake.url() + "/_fake/drop");
    EXPECT_EQ(first.status, 200u) << first.error;
    const Outcome second = co_await roundtrip(client, fake.url() + "/_fake/stats");
    EXPECT_EQ(second.status, 200u) << second.error;
    EXPECT_EQ(client.stats().stale_retries, 1u);
    EXPECT_EQ(client.stats().connections_opened, 2u);
  });
}

TEST(HttpClient, FirstByteTimeout) {
  auto fake = testing::start_aws_fake();
  ClientOptions options;
  options.first_byte_timeout = 300ms;
  with_client(options, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, fake.url() + "/_fake/slow?ms=3000");
    EXPECT_EQ(o.status, 0u);
    EXPECT_NE(o.error.find("waiting for the response: timed out after 300 ms"), std::string::npos) << o.error;
    EXPECT_EQ(o.kind, ErrorKind::kTimeout);  // the gateway answers 504 on the kind, not the text
  });
}

TEST(HttpClient, ConnectionRefusedIsOneReadableLine) {
  with_client({}, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, "http://127.0.0.1:9/");
    EXPECT_NE(o.error.find("connecting to 127.0.0.1:9: Connection refused"), std::string::npos) << o.error;
    EXPECT_EQ(o.kind, ErrorKind::kUnreachable);
  });
}

struct TlsFake {
  TempDir dir;
  std::string ca;
  std::unique_ptr<testing::FakeProcess> fake;
  TlsFake() {
    const std::string script = std::string(SIGNGATE_SOURCE) + "/tests/fakes/make_test_ca.sh " + dir.path();
    if (std::system(script.c_str()) != 0) throw std::runtime_error("make_test_ca.sh failed");
    ca = dir.path() + "/ca.pem";
    fake = std::make_unique<testing::FakeProcess>(
        "aws_fake.py",
        std::vector<std::string>{"--tls-cert", dir.path() + "/server.pem", "--tls-key", dir.path() + "/server.key"});
  }
};

// TLS verified against a configured CA file; the system store does not know the test CA.
TEST(HttpClient, TlsVerifiesAgainstTheConfiguredCa) {
  TlsFake tls;
  ClientOptions trusted;
  trusted.ca_file = tls.ca;
  with_client(trusted, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, tls.fake->url() + "/_fake/stats");
    EXPECT_EQ(o.status, 200u) << o.error;
  });
  with_client({}, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, tls.fake->url() + "/_fake/stats");
    EXPECT_EQ(o.status, 0u);
    EXPECT_NE(o.error.find("TLS handshake"), std::string::npos) << o.error;
    EXPECT_NE(o.error.find("certificate verify failed"), std::string::npos) << o.error;
    EXPECT_EQ(o.kind, ErrorKind::kUnreachable);
  });
}

std::vector<std::string> proxy_targets(const std::string& proxy_url) {
  // The proxy answers its own GET on a plain connection (no CONNECT involved).
  const auto reply = testing::call(proxy_url + "/_proxy/targets", "GET");
  return nlohmann::json::parse(reply.body).get<std::vector<std::string>>();
}

// Corporate egress: HTTPS goes through the proxy's CONNECT tunnel, TLS end to end inside.
TEST(HttpClient, HttpsThroughAConnectProxyAndNoProxyBypass) {
  TlsFake tls;
  testing::FakeProcess proxy("connect_proxy.py", {});
  const Url target = url_of(tls.fake->url());
  auto through = ProxySettings::from_environment(fixed_environment({{"HTTPS_PROXY", proxy.url()}}));
  ASSERT_TRUE(through) << through.message();
  ClientOptions options;
  options.ca_file = tls.ca;
  options.proxy = *through;
  with_client(options, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, tls.fake->url() + "/_fake/stats");
    EXPECT_EQ(o.status, 200u) << o.error;
  });
  EXPECT_EQ(proxy_targets(proxy.url()), std::vector<std::string>{"127.0.0.1:" + std::to_string(target.port)});

  auto bypass = ProxySettings::from_environment(
      fixed_environment({{"HTTPS_PROXY", proxy.url()}, {"NO_PROXY", "example.com, 127.0.0.1"}}));
  options.proxy = *bypass;
  with_client(options, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, tls.fake->url() + "/_fake/stats");
    EXPECT_EQ(o.status, 200u) << o.error;
  });
  EXPECT_EQ(proxy_targets(proxy.url()).size(), 1u) << "NO_PROXY went direct";
}

TEST(HttpClient, AProxyThatWantsCredentialsGetsThemFromTheUrl) {
  TlsFake tls;
  testing::FakeProcess proxy("connect_proxy.py", {"--credentials", "egress:s3cr%t"});
  const std::string host_port = proxy.url().substr(std::string("http://").size());
  ClientOptions options;
  options.ca_file = tls.ca;
  options.proxy =
      *ProxySettings::from_environment(fixed_environment({{"HTTPS_PROXY", "http://egress:wrong@" + host_port}}));
  with_client(options, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, tls.fake->url() + "/_fake/stats");
    EXPECT_NE(o.error.find("refused CONNECT"), std::string::npos) << o.error;
    EXPECT_NE(o.error.find("407"), std::string::npos) << o.error;
    EXPECT_EQ(o.error.find("wrong"), std::string::npos) << "the proxy password is not echoed";
  });
  options.proxy =
      *ProxySettings::from_environment(fixed_environment({{"HTTPS_PROXY", "http://egress:s3cr%25t@" + host_port}}));
  with_client(options, [&](Client& client) -> asio::awaitable<void> {
    const Outcome o = co_await roundtrip(client, tls.fake->url() + "/_fake/stats");
    EXPECT_EQ(o.status, 200u) << o.error;
  });
}

// The body arrives piece by piece as the server sends it, not buffered to the end.
TEST(HttpClient, StreamsTheBodyAsItArrives) {
  testing::FakeProcess fake(
      "aws_fake.py",
      {"--credentials", std::string(testing::kBaseKey) + ":" + testing::kBaseSecret, "--frame-delay", "0.1"});
  const aws::Credentials creds(testing::kBaseKey, testing::kBaseSecret);
  const Url u = url_of(fake.url() + "/model/m/converse-stream");
  const std::string body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})";
  http::Request req{"POST", u.path, {}, {{"Host", u.host_header()}, {"Content-Type", "application/json"}}};
  aws::Signer().sign(req, sha256_hex(body), creds, aws::SigningOptions::for_service("us-east-1", "bedrock"));
  int pieces = 0, frames = 0;
  with_client({}, [&](Client& client) -> asio::awaitable<void> {
    auto response = co_await client.send(u, req, body);
    EXPECT_TRUE(response) << response.message();
    if (!response) co_return;
    EXPECT_EQ(response->status(), 200u);
    aws::eventstream::Decoder decoder;
    for (;;) {
      auto piece = co_await response->read_some();
      EXPECT_TRUE(piece) << piece.message();
      if (!piece || (piece->empty() && response->done())) break;
      ++pieces;
      std::string_view rest = *piece;
      while (!rest.empty()) {
        auto r = decoder.feed(rest);
        EXPECT_EQ(r.error, aws::eventstream::Error::kNone);
        if (r.error != aws::eventstream::Error::kNone) co_return;
        rest.remove_prefix(r.consumed);
        if (r.message) ++frames;
      }
    }
  });
  EXPECT_EQ(frames, 7);
  EXPECT_GE(pieces, 5) << "frames sent 100 ms apart arrive as separate pieces";
}

}  // namespace
}  // namespace signgate::http
