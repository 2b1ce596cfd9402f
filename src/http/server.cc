#include "http/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <optional>
#include <set>
#include <type_traits>

namespace signgate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

template <class Stream>
class StreamResponder final : public Responder {
 public:
  StreamResponder(Stream& stream, bool keep_alive, std::chrono::milliseconds write_timeout)
      : stream_(stream), keep_alive_(keep_alive), timeout_(write_timeout) {}

  asio::awaitable<bool> send(unsigned status, Headers headers, std::string body) override {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    for (auto& [n, v] : headers) res.insert(n, v);
    res.keep_alive(keep_alive_);
    res.body() = std::move(body);
    res.prepare_payload();
    started_ = true;
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    error_code ec;
    const std::size_t n = co_await bhttp::async_write(stream_, res, asio::redirect_error(asio::use_awaitable, ec));
    bytes_ += res.body().size();
    (void)n;
    done_ = !ec;
    co_return !ec;
  }

  asio::awaitable<bool> start_stream(unsigned status, Headers headers) override {
    res_.emplace(static_cast<bhttp::status>(status), 11);
    for (auto& [n, v] : headers) res_->insert(n, v);
    res_->keep_alive(keep_alive_);
    res_->chunked(true);
    res_->body().data = nullptr;
    res_->body().more = true;
    serializer_.emplace(*res_);
    started_ = true;
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    error_code ec;
    co_await bhttp::async_write_header(stream_, *serializer_, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }

  asio::awaitable<bool> write(std::string_view piece) override {
    if (!serializer_ || piece.empty()) co_return static_cast<bool>(serializer_);
    res_->body().data = const_cast<char*>(piece.data());
    res_->body().size = piece.size();
    res_->body().more = true;
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    error_code ec;
    co_await bhttp::async_write(stream_, *serializer_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    bytes_ += piece.size();
    co_return !ec;
  }

  asio::awaitable<bool> finish() override {
    if (!serializer_) co_return false;
    res_->body().data = nullptr;
    res_->body().size = 0;
    res_->body().more = false;
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    error_code ec;
    co_await bhttp::async_write(stream_, *serializer_, asio::redirect_error(asio::use_awaitable, ec));
    done_ = !ec;
    co_return !ec;
  }

  bool started() const override { return started_; }
  std::uint64_t bytes_written() const override { return bytes_; }
  bool done() const { return done_; }

 private:
  Stream& stream_;
  bool keep_alive_;
  std::chrono::milliseconds timeout_;
  bool started_ = false;
  bool done_ = false;
  std::uint64_t bytes_ = 0;
  std::optional<bhttp::response<bhttp::buffer_body>> res_;
  std::optional<bhttp::response_serializer<bhttp::buffer_body>> serializer_;
};

}  // namespace

struct Server::Impl {
  struct Loop {
    asio::io_context ioc{1};
    std::optional<tcp::acceptor> acceptor;
    std::set<beast::tcp_stream*> idle;  // connections waiting for their next request
    std::thread thread;
  };

  Impl(ServerOptions o, Handler h, Refusal r) : options(std::move(o)), handler(std::move(h)), refusal(std::move(r)) {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options.threads); ++i) loops.push_back(std::make_unique<Loop>());
  }

  void refuse(unsigned status, const std::string& reason, const Request* partial) {
    if (refusal) refusal(status, reason, partial);
  }

  asio::awaitable<void> accept(Loop& loop, std::size_t index) {
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await loop.acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        continue;  // EMFILE and friends: keep serving the connections we have
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(loop.ioc, session(loop, std::move(socket), index), asio::detached);
    }
  }

  template <class Stream>
  asio::awaitable<void> answer_and_close(Stream& stream, unsigned status, const std::string& reason) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = R"({"message":")" + reason + "\"}";
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(options.write_timeout);
    error_code ec;
    co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> session(Loop& loop, tcp::socket socket, std::size_t index) {
    ++connections;
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(loop, stream, index);
    } else {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
      beast::get_lowest_layer(stream).expires_after(options.header_timeout);
      error_code ec;
      co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        co_await serve(loop, stream, index);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));  // best effort
      }
    }
    --connections;
  }

  template <class Stream>
  asio::awaitable<void> serve(Loop& loop, Stream& stream, std::size_t index) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    buffer.reserve(4096);  // a typical request in one read, not in 512-byte pieces
    bool first = true;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(options.max_body_bytes);
      error_code ec;
      lowest.expires_after(first ? options.header_timeout : options.keep_alive_timeout);
      loop.idle.insert(&lowest);
      if (stopping) break;
      co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      loop.idle.erase(&lowest);
      first = false;
      if (ec) {
        if (ec == bhttp::error::body_limit) {  // Content-Length alone says it is too large
          refuse(413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes", nullptr);
          co_await answer_and_close(stream, 413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes");
        } else if (ec == bhttp::error::header_limit) {
          refuse(431, "request head too large", nullptr);
          co_await answer_and_close(stream, 431, "request head too large");
        } else if (ec == bhttp::error::partial_message) {
          // The client hung up inside the head: nobody to answer, and not a request to audit
          // (1,000 such connections would otherwise be 1,000 audit lines).
        } else if (ec != bhttp::error::end_of_stream &&
                   ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
          refuse(400, "malformed HTTP request: " + ec.message(), nullptr);
          co_await answer_and_close(stream, 400, "malformed HTTP request");
        } else if (ec == beast::error::timeout && buffer.size() > 0) {
          refuse(408, "request head not received in time", nullptr);
          co_await answer_and_close(stream, 408, "request head not received in time");
        }
        break;
      }
      const auto& head = parser.get();
      if (head.has_content_length() && parser.content_length() && *parser.content_length() > options.max_body_bytes) {
        refuse(413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes", nullptr);
        co_await answer_and_close(stream, 413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes");
        break;
      }
      if (beast::iequals(head[bhttp::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        lowest.expires_after(options.write_timeout);
        co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      lowest.expires_after(options.body_timeout);
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == bhttp::error::body_limit) {
          refuse(413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes", nullptr);
          co_await answer_and_close(stream, 413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes");
        } else if (ec == beast::error::timeout) {
          refuse(408, "request body not received in time", nullptr);
          co_await answer_and_close(stream, 408, "request body not received in time");
        }
        break;
      }
      const Request request = parser.release();
      const bool keep_alive = request.keep_alive() && !stopping;
      StreamResponder<Stream> responder(stream, keep_alive, options.write_timeout);
      ++in_flight;
      try {
        co_await handler(request, responder, index);
      } catch (const std::exception&) {
        // The handler's failures are values; an exception here is a bug. Answer if we still can.
      }
      --in_flight;
      if (!responder.started()) {
        co_await answer_and_close(stream, 500, "internal error");
        break;
      }
      if (!responder.done() || !keep_alive) break;
    }
    loop.idle.erase(&lowest);
    error_code ignored;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }

  ServerOptions options;
  Handler handler;
  Refusal refusal;
  std::optional<asio::ssl::context> tls;
  std::vector<std::unique_ptr<Loop>> loops;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> in_flight{0};
};

Server::Server(ServerOptions options, Handler handler, Refusal refusal)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(refusal))) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

Result<std::uint16_t> Server::listen() {
  error_code ec;
  if (!impl_->options.tls_cert.empty()) {
    impl_->tls.emplace(asio::ssl::context::tls_server);
    impl_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    impl_->tls->use_certificate_chain_file(impl_->options.tls_cert, ec);
    if (ec) return make_error("tls.cert " + impl_->options.tls_cert + ": " + ec.message());
    impl_->tls->use_private_key_file(impl_->options.tls_key, asio::ssl::context::pem, ec);
    if (ec) return make_error("tls.key " + impl_->options.tls_key + ": " + ec.message());
  }
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return make_error("listen: '" + impl_->options.host + "' is not an IP address");
  std::uint16_t port = impl_->options.port;
  for (auto& loop : impl_->loops) {
    tcp::acceptor acceptor(loop->ioc);
    const tcp::endpoint endpoint(address, port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    if (!ec) acceptor.set_option(reuse_port(true), ec);  // one accepting socket per loop
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return make_error("listen on " + impl_->options.host + ":" + std::to_string(port) + ": " + ec.message());
    port = acceptor.local_endpoint().port();
    loop->acceptor.emplace(std::move(acceptor));
  }
  return port;
}

void Server::start() {
  for (std::size_t i = 0; i < impl_->loops.size(); ++i) {
    auto& loop = *impl_->loops[i];
    asio::co_spawn(loop.ioc, impl_->accept(loop, i), asio::detached);
    loop.thread = std::thread([&loop] { loop.ioc.run(); });
  }
}

void Server::stop(std::chrono::milliseconds deadline) {
  if (impl_->stopping.exchange(true)) return;
  for (auto& loop : impl_->loops) {
    asio::post(loop->ioc, [&l = *loop] {
      error_code ec;
      if (l.acceptor) l.acceptor->close(ec);
      for (auto* s : l.idle) s->cancel();  // idle keep-alive connections close now
    });
  }
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (impl_->in_flight > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& loop : impl_->loops) loop->ioc.stop();
  for (auto& loop : impl_->loops) {
    if (loop->thread.joinable()) loop->thread.join();
  }
}

std::size_t Server::loops() const { return impl_->loops.size(); }
asio::io_context& Server::loop(std::size_t i) { return impl_->loops[i]->ioc; }
std::uint64_t Server::open_connections() const { return impl_->connections; }
std::uint64_t Server::requests_in_flight() const { return impl_->in_flight; }

}  // namespace signgate::http
