#include "http/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <limits>
#include <optional>

#include "common/strings.h"
#include "http/deadline.h"
#include "http/tls_client.h"
#include "http/wire.h"

namespace signgate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using Millis = std::chrono::milliseconds;

namespace {

constexpr std::size_t kChunkSize = 16 * 1024;  // per open response; sized for 10k open streams

struct Timeouts {
  Millis connect, first_byte, idle;
};

// `step` failed with `ec`: a timeout is kTimeout whatever the step, anything else `kind`.
Error describe(std::string_view step, const error_code& ec, Millis timeout, ErrorKind kind) {
  std::string m(step);
  m += ": ";
  if (ec == beast::error::timeout) {
    m += "timed out after " + std::to_string(timeout.count()) + " ms";
  } else if (ec.category() == asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    m += reason != nullptr ? reason : ec.message();
  } else {
    m += ec.message();
  }
  return make_error(std::move(m), ec == beast::error::timeout ? ErrorKind::kTimeout : kind);
}

bool looks_stale(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

Error caller_gone() { return make_error("the caller went away", ErrorKind::kBroken); }

}  // namespace

struct Connection {
  // Beast reads at most the buffer's free capacity (512 bytes when empty): without room, a
  // 8 KiB streamed answer arrives in 16 reads, and each becomes a write to the caller.
  explicit Connection(const asio::any_io_executor& ex) : tcp(ex), deadline(tcp) { buffer.reserve(kChunkSize); }
  beast::tcp_stream tcp;
  Deadline deadline;  // each read's and write's timeout once connected (Beast's while connecting)
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls;
  beast::flat_buffer buffer;
  std::string origin;
  std::chrono::steady_clock::time_point idle_since;

  // While this lives, firing `abort` closes the connection: the pending wait on it ends.
  http::AbortScope closed_on(const std::shared_ptr<AbortSignal>& abort) {
    return {abort, [this] {
              error_code ec;
              tcp.socket().close(ec);
            }};
  }
};

struct Client::Impl {
  Impl(asio::any_io_executor ex, ClientOptions opts)
      : executor(std::move(ex)), options(std::move(opts)), tls(ssl::context::tls_client) {
    tls_error = configure_client_tls(tls, options.ca_file);
  }

  std::unique_ptr<Connection> take_idle(const std::string& origin) {
    auto it = idle.find(origin);
    if (it == idle.end()) return nullptr;
    const auto now = std::chrono::steady_clock::now();
    auto& list = it->second;
    while (!list.empty()) {
      auto conn = std::move(list.back());  // most recently used first: least likely stale
      list.pop_back();
      if (now - conn->idle_since < options.pool_idle_timeout) return conn;
    }
    return nullptr;
  }

  void release(std::unique_ptr<Connection> conn) {
    if (!conn->tcp.socket().is_open()) return;  // closed under it (an abort): not reusable
    auto& list = idle[conn->origin];
    conn->idle_since = std::chrono::steady_clock::now();
    conn->tcp.expires_never();
    list.push_back(std::move(conn));
    while (list.size() > options.max_idle_per_origin) list.pop_front();
  }

  asio::any_io_executor executor;
  ClientOptions options;
  ssl::context tls;
  std::string tls_error;
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle;
  // Body buffers of finished responses, reused by the next ones: a 16 KiB allocation a
  // request was a tenth of an HTTP/2 request's CPU (perf, issue 17). At most kSpareChunks.
  static constexpr std::size_t kSpareChunks = 64;
  std::vector<std::unique_ptr<char[]>> spare_chunks;
  ClientStats stats;
};

struct Response::State {
  std::unique_ptr<Connection> conn;
  std::weak_ptr<Client::Impl> owner;
  bhttp::response_parser<bhttp::buffer_body> parser;
  std::unique_ptr<char[]> chunk;  // kChunkSize bytes, not zeroed: Beast writes before we read
  Millis idle_timeout{};
  std::shared_ptr<AbortSignal> abort;  // the caller's, for as long as the body is read
  bool finished = false;
  Error failure;  // empty message: none

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (!chunk) return;
    if (auto core = owner.lock(); core && core->spare_chunks.size() < Client::Impl::kSpareChunks) {
      core->spare_chunks.push_back(std::move(chunk));
    }
  }

  void take_chunk() {
    if (chunk) return;
    if (auto core = owner.lock(); core && !core->spare_chunks.empty()) {
      chunk = std::move(core->spare_chunks.back());
      core->spare_chunks.pop_back();
    } else {
      chunk.reset(new char[kChunkSize]);
    }
  }

  void finish() {
    finished = true;
    if (!conn) return;
    if (parser.keep_alive()) {
      if (auto core = owner.lock()) core->release(std::move(conn));
    }
    conn.reset();
  }
};

Response::Response(std::unique_ptr<State> state) : state_(std::move(state)) {}
Response::Response(Response&&) noexcept = default;
Response& Response::operator=(Response&&) noexcept = default;
Response::~Response() = default;  // an unfinished body closes its connection with it

bool Response::done() const { return state_->finished; }

void Response::set_abort(std::shared_ptr<AbortSignal> abort) { state_->abort = std::move(abort); }

asio::awaitable<Result<std::string_view>> Response::read_some() {
  State& s = *state_;
  if (!s.failure.message.empty()) co_return s.failure;
  if (s.finished) co_return std::string_view{};
  if (s.parser.is_done()) {
    s.finish();
    co_return std::string_view{};
  }
  s.take_chunk();
  Connection& c = *s.conn;
  for (;;) {
    s.parser.get().body().data = s.chunk.get();
    s.parser.get().body().size = kChunkSize;
    c.deadline.arm(s.idle_timeout);
    error_code ec;
    if (s.abort && s.abort->fired()) {
      ec = asio::error::operation_aborted;
    } else {
      const http::AbortScope scope = c.closed_on(s.abort);
      if (c.tls) {
        co_await bhttp::async_read_some(*c.tls, c.buffer, s.parser, asio::redirect_error(asio::use_awaitable, ec));
      } else {
        co_await bhttp::async_read_some(c.tcp, c.buffer, s.parser, asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    ec = c.deadline.judge(ec);
    c.deadline.disarm();
    if (ec == bhttp::error::need_buffer) ec = {};
    // Fired after the read completed but before this resumed: the socket is closed, so the
    // connection must not go back to the pool even if the answer happens to be complete.
    if (!ec && s.abort && s.abort->fired()) ec = asio::error::operation_aborted;
    if (ec) {
      s.failure = s.abort && s.abort->fired()
                      ? caller_gone()
                      : describe("reading the response body", ec, s.idle_timeout, ErrorKind::kBroken);
      s.conn.reset();
      co_return s.failure;
    }
    const std::size_t n = kChunkSize - s.parser.get().body().size;
    if (s.parser.is_done()) s.finish();
    if (n > 0 || s.finished) co_return std::string_view(s.chunk.get(), n);
  }
}

asio::awaitable<Result<std::string>> Response::read_all(std::size_t limit) {
  std::string out;
  for (;;) {
    auto piece = co_await read_some();
    if (!piece) co_return piece.error();
    if (piece->empty() && done()) co_return out;
    if (out.size() + piece->size() > limit) {
      state_->conn.reset();
      state_->failure =
          make_error("response body larger than " + std::to_string(limit) + " bytes", ErrorKind::kTooLarge);
      co_return state_->failure;
    }
    out.append(*piece);
  }
}

namespace {

std::string origin_key(const Url& url, const Proxy* proxy) {
  std::string key = url.scheme + "://" + url.host + ":" + std::to_string(url.port);
  if (proxy != nullptr) key += " via " + proxy->url.host_header();
  return key;
}

asio::awaitable<Result<std::unique_ptr<Connection>>> open_connection(Client::Impl& core, const Url& url,
                                                                     const Proxy* proxy, Millis timeout) {
  const Url& hop = proxy != nullptr ? proxy->url : url;
  const std::string where = hop.host_header() + (hop.explicit_port ? "" : ":" + std::to_string(hop.port));
  if (url.is_tls() && !core.tls_error.empty()) co_return make_error(core.tls_error, ErrorKind::kUnreachable);
  error_code ec;
  asio::ip::tcp::resolver resolver(core.executor);
  auto conn = std::make_unique<Connection>(core.executor);
  // The resolver has no timeout of its own; the connect deadline covers it via cancel.
  conn->tcp.expires_after(timeout);
  const auto endpoints = co_await resolver.async_resolve(hop.host, std::to_string(hop.port),
                                                         asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return describe("resolving " + hop.host, ec, timeout, ErrorKind::kUnreachable);
  co_await conn->tcp.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return describe((proxy ? "connecting to the proxy " : "connecting to ") + where, ec, timeout,
                       ErrorKind::kUnreachable);
  }
  conn->tcp.socket().set_option(asio::ip::tcp::no_delay(true), ec);

  if (proxy != nullptr) {
    const std::string authority = url.host_header().find(':') != std::string::npos
                                      ? url.host_header()
                                      : url.host_header() + ":" + std::to_string(url.port);
    bhttp::request<bhttp::empty_body> connect{bhttp::verb::connect, authority, 11};
    connect.set(bhttp::field::host, authority);
    if (!proxy->authorization.empty()) {
      connect.set(bhttp::field::proxy_authorization, proxy->authorization);
    }
    co_await bhttp::async_write(conn->tcp, connect, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return describe("sending CONNECT to the proxy " + where, ec, timeout, ErrorKind::kUnreachable);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::empty_body> answer;
    answer.skip(true);  // a CONNECT answer has no body: the tunnel follows
    co_await bhttp::async_read_header(conn->tcp, buffer, answer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return describe("reading the proxy's CONNECT answer", ec, timeout, ErrorKind::kUnreachable);
    if (answer.get().result_int() != 200) {
      co_return make_error("the proxy " + where + " refused CONNECT " + authority + ": " +
                               std::to_string(answer.get().result_int()) + " " + std::string(answer.get().reason()),
                           ErrorKind::kUnreachable);
    }
  }

  if (url.is_tls()) {
    conn->tls.emplace(conn->tcp, core.tls);
    if (!prepare_client_tls(*conn->tls, url.host, url.is_ip_literal())) {
      co_return make_error("TLS: could not set SNI for " + url.host, ErrorKind::kUnreachable);
    }
    co_await conn->tls->async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return describe("TLS handshake with " + url.host_header(), ec, timeout, ErrorKind::kUnreachable);
  }
  conn->tcp.expires_never();  // connected: each read and write has its own deadline
  co_return conn;
}

// Either the response state, or the error and whether a new connection may be tried.
struct HeadAttempt {
  std::unique_ptr<Response::State> state;
  Error error;
  bool stale = false;
};

// The head and the body in one gathered write.
template <class Stream>
asio::awaitable<HeadAttempt> exchange_head(Stream& stream, Connection& conn, std::string_view request_head,
                                           std::string_view body, bool head_only, const Timeouts& t) {
  HeadAttempt out;
  error_code ec;
  conn.deadline.arm(t.idle);
  const std::array<asio::const_buffer, 2> wire{asio::buffer(request_head.data(), request_head.size()),
                                               asio::buffer(body.data(), body.size())};
  co_await asio::async_write(stream, wire, asio::redirect_error(asio::use_awaitable, ec));
  ec = conn.deadline.judge(ec);
  if (ec) {
    conn.deadline.disarm();
    out.stale = looks_stale(ec);
    out.error = describe("sending the request", ec, t.idle, ErrorKind::kBroken);
    co_return out;
  }
  auto state = std::make_unique<Response::State>();
  state->parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // streamed, never whole
  state->parser.header_limit(64 * 1024);
  if (head_only) state->parser.skip(true);
  conn.deadline.arm(t.first_byte);
  co_await bhttp::async_read_header(stream, conn.buffer, state->parser, asio::redirect_error(asio::use_awaitable, ec));
  ec = conn.deadline.judge(ec);
  conn.deadline.disarm();
  if (ec) {
    out.stale = looks_stale(ec) && conn.buffer.size() == 0;
    out.error = describe("waiting for the response", ec, t.first_byte, ErrorKind::kBroken);
    co_return out;
  }
  state->idle_timeout = t.idle;
  out.state = std::move(state);
  co_return out;
}

}  // namespace

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}
Client::~Client() = default;

const ClientStats& Client::stats() const { return impl_->stats; }

std::size_t Client::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [origin, list] : impl_->idle) n += list.size();
  return n;
}

asio::awaitable<Result<Response>> Client::send(const Url& url, const http::Request& req, std::string_view body,
                                               std::shared_ptr<AbortSignal> abort) {
  co_return co_await send(url, req, body, Millis::max(), std::move(abort));
}

asio::awaitable<Result<Response>> Client::send(const Url& url, const http::Request& req, std::string_view body,
                                               Millis overall_timeout, std::shared_ptr<AbortSignal> abort) {
  const ClientOptions& o = impl_->options;
  co_return co_await send_timed(url, req, body, std::min(o.connect_timeout, overall_timeout),
                                std::min(o.first_byte_timeout, overall_timeout),
                                std::min(o.idle_timeout, overall_timeout), std::move(abort));
}

asio::awaitable<Result<Response>> Client::send_head_within(const Url& url, const http::Request& req,
                                                           std::string_view body, Millis head_timeout,
                                                           std::shared_ptr<AbortSignal> abort) {
  const ClientOptions& o = impl_->options;
  co_return co_await send_timed(url, req, body, std::min(o.connect_timeout, head_timeout),
                                std::min(o.first_byte_timeout, head_timeout), o.idle_timeout, std::move(abort));
}

asio::awaitable<Result<Response>> Client::send_timed(const Url& url, const http::Request& req, std::string_view body,
                                                     Millis connect, Millis first_byte, Millis idle,
                                                     std::shared_ptr<AbortSignal> abort) {
  const std::shared_ptr<Impl> core = impl_;  // keeps the pool alive across suspensions
  const Timeouts t{connect, first_byte, idle};
  const ClientOptions& o = core->options;

  const bool has_length = std::any_of(req.headers.begin(), req.headers.end(),
                                      [](const Header& h) { return iequals(h.name, "content-length"); });
  const bool add_length = !has_length && (!body.empty() || req.method == "POST" || req.method == "PUT");
  std::string request_head;
  request_head.reserve(512);
  if (auto refused =
          write_request_head(request_head, req, add_length ? std::optional<std::size_t>(body.size()) : std::nullopt)) {
    co_return make_error(std::move(*refused));
  }
  const bool head_only = req.method == "HEAD";
  if (abort && abort->fired()) co_return caller_gone();

  const Proxy* proxy = o.proxy.for_target(url);
  const std::string origin = origin_key(url, proxy);
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn = core->take_idle(origin);
    const bool reused = conn != nullptr;
    if (reused) {
      ++core->stats.connections_reused;
    } else {
      auto opened = co_await open_connection(*core, url, proxy, t.connect);
      if (!opened) co_return opened.error();
      conn = std::move(*opened);
      conn->origin = origin;
      ++core->stats.connections_opened;
    }
    if (abort && abort->fired()) co_return caller_gone();  // while connecting, say
    HeadAttempt a;                                         // no co_await inside ?: — GCC 12 miscompiles it
    {
      const http::AbortScope scope = conn->closed_on(abort);
      if (conn->tls) {
        a = co_await exchange_head(*conn->tls, *conn, request_head, body, head_only, t);
      } else {
        a = co_await exchange_head(conn->tcp, *conn, request_head, body, head_only, t);
      }
    }
    if (abort && abort->fired()) co_return caller_gone();
    if (a.state) {
      Response::State& s = *a.state;
      ResponseHead head;
      head.status = s.parser.get().result_int();
      head.reason = std::string(s.parser.get().reason());
      for (const auto& f : s.parser.get()) {
        head.headers.push_back({std::string(f.name_string()), std::string(f.value())});
      }
      s.owner = core;
      s.abort = abort;
      s.conn = std::move(conn);
      Response response(std::move(a.state));
      response.head_ = std::move(head);
      if (response.state_->parser.is_done()) response.state_->finish();
      co_return response;
    }
    if (reused && a.stale && attempt == 0) {
      ++core->stats.stale_retries;
      continue;
    }
    co_return make_error(a.error.message + " (" + url.host_header() + ")", a.error.kind);
  }
}

asio::awaitable<Result<SmallResponse>> fetch_small(Client& client, const Url& url, const http::Request& req,
                                                   std::string_view body, Millis timeout, std::size_t limit) {
  auto response = co_await client.send(url, req, body, timeout);
  if (!response) co_return response.error();
  auto all = co_await response->read_all(limit);
  if (!all) co_return all.error();
  co_return SmallResponse{response->head(), std::move(*all)};
}

}  // namespace signgate::http
