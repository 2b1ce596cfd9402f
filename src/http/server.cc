#include "http/server.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include <limits>
#include <set>
#include <stdexcept>
#include <type_traits>

#include "http/deadline.h"
#include "http/h2_session.h"
#include "http/wire.h"

namespace signgate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;

// Beast's HTTP/1 parser takes only versions 1.0 and 1.1 ("HTTP/2.0" in a request line is a 400).
std::string_view protocol_of(const RequestHead& head) {
  if (head.version() == 20) return "h2";
  return head.version() == 10 ? "http/1.0" : "http/1.1";
}

std::optional<unsigned> refuse_transfer_encoding(const RequestHead& head) {
  bool any = false, chunked_last = false, unknown = false;
  int chunked = 0;
  const auto fields = head.equal_range(bhttp::field::transfer_encoding);
  for (auto field = fields.first; field != fields.second; ++field) {
    // Each comma-separated coding, parameters and whitespace stripped.
    std::string_view list = field->value();
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      std::string_view coding = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) coding.remove_prefix(1);
      if (coding.empty()) continue;  // an empty list element
      if (const auto semi = coding.find(';'); semi != std::string_view::npos) coding = coding.substr(0, semi);
      while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
      if (coding.empty()) return 400u;  // parameters without a coding (";x"): Beast would not see chunked
      any = true;
      chunked_last = beast::iequals(coding, "chunked");
      if (chunked_last) {
        ++chunked;
      } else {
        unknown = true;  // identity, gzip, xchunked, ...: nothing signgate decodes
      }
    }
  }
  if (!any && head.find(bhttp::field::transfer_encoding) == head.end()) return std::nullopt;
  if (!chunked_last || chunked != 1) return 400u;  // the body's end cannot be known
  if (unknown) return 501u;
  return std::nullopt;
}

namespace {

// ALPN: HTTP/2 when the client offers it, else HTTP/1.1; a client that names neither gets
// no protocol and is spoken to in HTTP/1.1.
int select_protocol(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                    void*) {
  for (const std::string_view want : {std::string_view("h2"), std::string_view("http/1.1")}) {
    for (unsigned int i = 0; i < inlen;) {
      const unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == want.size() && std::memcmp(in + i + 1, want.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// What one request's body reader and responder share: whether the body is still on the wire.
struct Exchange {
  bool keep_alive = true;
  bool head_only = false;     // a HEAD request: the answer's head without its body
  bool body_pending = false;  // announced and not (completely) read: the connection must close
  bool keep_alive_now() const { return keep_alive && !body_pending; }
};

// Writes the answer's head itself (http/wire.h) and sends it with the body, or with each
// chunk, in one gathered write.
template <class Stream>
class StreamResponder final : public Responder {
  using Wire = std::array<asio::const_buffer, 3>;

 public:
  StreamResponder(Stream& stream, Deadline& deadline, const Exchange& exchange, std::chrono::milliseconds write_timeout)
      : stream_(stream), deadline_(deadline), exchange_(exchange), timeout_(write_timeout) {}

  asio::awaitable<bool> send(unsigned status, Headers headers, std::string body) override {
    keep_alive_ = exchange_.keep_alive_now();
    if (!status_has_body(status)) body.clear();
    std::string head;
    head.reserve(256);
    write_response_head(head, status, headers, Framing::kLength, body.size(), keep_alive_);
    started_ = true;
    // A body after the head of a HEAD answer would be read as the next response.
    const std::string_view sent = exchange_.head_only ? std::string_view() : std::string_view(body);
    const Wire wire{asio::buffer(head), asio::buffer(sent.data(), sent.size()), asio::const_buffer()};
    const bool ok = co_await put(wire);
    bytes_ += sent.size();
    done_ = ok;
    co_return ok;
  }

  asio::awaitable<bool> start_stream(unsigned status, Headers headers) override {
    keep_alive_ = exchange_.keep_alive_now();
    std::string head;
    head.reserve(256);
    write_response_head(head, status, headers, Framing::kChunked, 0, keep_alive_);
    started_ = true;
    streaming_ = true;
    const Wire wire{asio::buffer(head), asio::const_buffer(), asio::const_buffer()};
    if (exchange_.head_only || !status_has_body(status)) {
      streaming_ = false;  // nothing may follow the head: the answer is whole
      const bool ok = co_await put(wire);
      done_ = ok;
      co_return ok;
    }
    co_return co_await put(wire);
  }

  asio::awaitable<bool> write(std::string_view piece) override {
    if (!streaming_) co_return done_;  // before the head: false; after a HEAD answer's head: nothing to send
    if (piece.empty()) co_return true;
    char line[18];
    const std::size_t n = chunk_line(line, piece.size());
    const Wire wire{asio::buffer(line, n), asio::buffer(piece.data(), piece.size()), asio::buffer("\r\n", 2)};
    const bool ok = co_await put(wire);
    if (ok) bytes_ += piece.size();
    co_return ok;
  }

  asio::awaitable<bool> finish() override {
    if (!streaming_) co_return done_;
    streaming_ = false;
    static constexpr std::string_view kLastChunk = "0\r\n\r\n";
    const Wire wire{asio::buffer(kLastChunk.data(), kLastChunk.size()), asio::const_buffer(), asio::const_buffer()};
    const bool ok = co_await put(wire);
    done_ = ok;
    co_return ok;
  }

  bool started() const override { return started_; }
  std::uint64_t bytes_written() const override { return bytes_; }
  bool done() const { return done_; }
  bool kept_alive() const { return keep_alive_; }

 private:
  // One write of up to three pieces (empty ones are skipped), under the write timeout; false
  // once the client is gone.
  asio::awaitable<bool> put(const Wire& wire) {
    deadline_.arm(timeout_);
    error_code ec;
    co_await asio::async_write(stream_, wire, asio::redirect_error(asio::use_awaitable, ec));
    deadline_.disarm();
    co_return !ec;
  }

  Stream& stream_;
  Deadline& deadline_;
  const Exchange& exchange_;
  std::chrono::milliseconds timeout_;
  bool keep_alive_ = false;
  bool started_ = false;
  bool streaming_ = false;
  bool done_ = false;
  std::uint64_t bytes_ = 0;
};

template <class Stream>
class SessionBody final : public BodyReader {
 public:
  using Parser = bhttp::request_parser<bhttp::string_body>;
  SessionBody(Stream& stream, Deadline& deadline, beast::flat_buffer& buffer, Parser& parser, Exchange& exchange,
              const ServerOptions& options)
      : stream_(stream), deadline_(deadline), buffer_(buffer), parser_(parser), exchange_(exchange), options_(options) {
    announced_ = parser_.chunked() || parser_.content_length().value_or(0) > 0;
    exchange_.body_pending = announced_ && !parser_.is_done();
  }

  bool announced() const override { return announced_; }

  std::size_t field_count() const {
    const auto& fields = parser_.get().base();
    return static_cast<std::size_t>(std::distance(fields.begin(), fields.end()));
  }

  asio::awaitable<Body> read(std::uint64_t limit) override {
    Body out;
    if (read_ || !exchange_.body_pending) {
      read_ = true;
      co_return out;
    }
    read_ = true;
    if (parser_.content_length() && *parser_.content_length() > limit) {
      out.error = BodyError::kTooLarge;  // said by the head: no byte read, no 100 Continue
      co_return out;
    }
    parser_.body_limit(limit);
    error_code ec;
    if (beast::iequals(parser_.get()[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      deadline_.arm(options_.write_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
      deadline_.disarm();
      if (ec) {
        out.error = BodyError::kClosed;
        co_return out;
      }
    }
    deadline_.arm(options_.body_timeout);
    const auto fields_before = field_count();
    co_await bhttp::async_read(stream_, buffer_, parser_, asio::redirect_error(asio::use_awaitable, ec));
    ec = deadline_.judge(ec);
    deadline_.disarm();
    if (!ec && field_count() != fields_before) {
      // Beast merges trailer fields into the head the caller was authenticated and judged by.
      out.error = BodyError::kMalformed;
      co_return out;
    }
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        out.error = BodyError::kTooLarge;
      } else if (ec == beast::error::timeout) {
        out.error = BodyError::kTimeout;
      } else if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
                 ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
        out.error = BodyError::kClosed;
      } else {
        out.error = BodyError::kMalformed;  // bad chunk framing, a chunk line or trailers over the cap
      }
      co_return out;
    }
    exchange_.body_pending = false;
    out.bytes = std::move(parser_.get().body());
    co_return out;
  }

 private:
  Stream& stream_;
  Deadline& deadline_;
  beast::flat_buffer& buffer_;
  Parser& parser_;
  Exchange& exchange_;
  const ServerOptions& options_;
  bool announced_ = false;
  bool read_ = false;
};

}  // namespace

struct Server::Impl {
  struct Loop {
    asio::io_context ioc{1};
    // After ioc, so destroyed before it: the sessions' Deadline objects, destroyed with the
    // io_context, find it gone and touch nothing.
    std::unique_ptr<Deadlines> deadlines = std::make_unique<Deadlines>(ioc);
    // Loops other than the acceptor's have no work until a connection is dealt to them.
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
    std::set<beast::tcp_stream*> idle;           // connections waiting for their next request
    std::set<asio::steady_timer*> h2_watchdogs;  // HTTP/2 connections' watchdogs: woken to send GOAWAY
    std::thread thread;
    std::shared_ptr<AbortSignal> stopping = std::make_shared<AbortSignal>();  // loop_stopping()
    Handler handler;  // this loop's own (its per-loop state, an upstream pool say, lives in it)
  };

  Impl(ServerOptions o, const HandlerFactory& make_handler, Rejected r)
      : options(std::move(o)), rejected(std::move(r)) {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options.threads); ++i) {
      auto loop = std::make_unique<Loop>();
      loop->handler = make_handler(loop->ioc.get_executor());
      loops.push_back(std::move(loop));
    }
  }

  void reject(unsigned status, const std::string& reason, std::string_view protocol = "http/1.1") {
    if (rejected) rejected(status, reason, protocol);
  }

  // One accepting socket on loop 0; each connection goes to the next loop in turn.
  asio::awaitable<void> accept() {
    asio::steady_timer pause(loops[0]->ioc);
    std::size_t next = 0;
    for (;;) {
      if (stopping) co_return;
      error_code ec;
      if (connections >= options.max_connections) {
        // At the cap the kernel's backlog holds newcomers until a connection closes.
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      const std::size_t index = next;
      Loop& target = *loops[index];
      next = (next + 1) % loops.size();
      tcp::socket socket = co_await acceptor->async_accept(target.ioc, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        // EMFILE, ENFILE, ENOBUFS, ...: retrying at once spins the CPU and serves nobody.
        // Keep serving the connections we have and try again shortly.
        ++accept_failures;
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      ++connections;
      asio::co_spawn(target.ioc, session(target, std::move(socket)), asio::detached);
    }
  }

  template <class Stream>
  asio::awaitable<void> answer_and_close(Stream& stream, unsigned status, std::string_view message) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, "application/json");
    res.keep_alive(false);
    res.body().append(R"({"message":")").append(message).append("\"}");
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(options.write_timeout);
    error_code ec;
    co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  }

  // Counts one in `n` (if not null) for as long as it lives.
  struct Counted {
    explicit Counted(std::atomic<std::uint64_t>* counter) : n(counter) {
      if (n != nullptr) ++*n;
    }
    ~Counted() {
      if (n != nullptr) --*n;
    }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    std::atomic<std::uint64_t>* n;
  };

  asio::awaitable<void> session(Loop& loop, tcp::socket socket) {
    // The count was taken by the acceptor; it is given back however this ends.
    struct Release {
      std::atomic<std::uint64_t>& n;
      ~Release() { --n; }
    } release{connections};
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await speak(loop, stream, false);
    } else {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
      beast::get_lowest_layer(stream).expires_after(options.header_timeout);
      error_code ec;
      co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        const unsigned char* protocol = nullptr;
        unsigned int length = 0;
        SSL_get0_alpn_selected(stream.native_handle(), &protocol, &length);
        const bool h2 = length == 2 && std::memcmp(protocol, "h2", 2) == 0;
        const Counted counted(h2 ? &h2_connections : nullptr);  // through the close_notify below
        co_await speak(loop, stream, h2);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));  // best effort
      }
    }
  }

  // Whether a cleartext connection opens with HTTP/2's preface (prior knowledge). The bytes are
  // peeked, not read, so HTTP/1.1's parser meets the connection exactly as it arrived. At most
  // header_timeout; an end of stream or an error is left for the reader that follows.
  asio::awaitable<bool> opens_with_preface(beast::tcp_stream& stream) {
    tcp::socket& socket = stream.socket();
    asio::steady_timer guard(socket.get_executor());
    guard.expires_after(options.header_timeout);
    guard.async_wait([&socket](error_code ec) {
      if (!ec) socket.cancel(ec);  // the wait below ends; the socket is still open for the 408 path
    });
    char peeked[kH2Preface.size()];
    bool h2 = false;
    for (;;) {
      error_code ec;
      co_await socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      const auto space = asio::buffer(peeked, sizeof peeked);
      const std::size_t n = socket.receive(space, tcp::socket::message_peek, ec);
      if (ec || n == 0 || kH2Preface.substr(0, n) != std::string_view(peeked, n)) break;
      if (n == kH2Preface.size()) {
        h2 = true;
        break;
      }
      // A prefix of the preface, the rest not here yet: look again shortly (readiness stays set
      // while peeked bytes are unread, so waiting on the socket alone would spin).
      asio::steady_timer pause(socket.get_executor());
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (guard.expiry() <= asio::steady_timer::clock_type::now()) break;
    }
    guard.cancel();
    co_return h2;
  }

  // HTTP/2 when ALPN chose it (TLS) or the connection opens with its preface (cleartext), else
  // HTTP/1.1.
  template <class Stream>
  asio::awaitable<void> speak(Loop& loop, Stream& stream, bool h2) {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      if (!h2) h2 = co_await opens_with_preface(stream);
    }
    if (h2) {
      H2Hooks hooks{&options,
                    &loop.handler,
                    &stopping,
                    &in_flight,
                    [this](unsigned status, const std::string& why) { reject(status, why, "h2"); },
                    &loop.h2_watchdogs};
      std::string preread;  // nothing read yet: the preface was only peeked at
      // Counted until the connection is done; under TLS, session() counts it up to close_notify.
      const Counted counted(std::is_same_v<Stream, beast::tcp_stream> ? &h2_connections : nullptr);
      co_await serve_h2(stream, std::move(preread), std::move(hooks));
      co_return;
    }
    // Bounded: a chunk line or trailers without an end cannot grow it past the head cap.
    beast::flat_buffer buffer(options.max_header_bytes + 8 * 1024);
    buffer.reserve(4096);  // a typical request in one read, not in 512-byte pieces
    co_await serve(loop, stream, buffer);
  }

  // After answering without reading a body the client is still sending: closing at once
  // would reset the connection and could destroy the answer before the client reads it.
  // Stop sending, then read and drop for a short while (bounded in time, not in memory).
  template <class Stream>
  asio::awaitable<void> linger(Stream& stream) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    error_code ec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    lowest.expires_after(options.linger_timeout);
    char sink[16 * 1024];
    for (;;) {
      co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
  }

  // HTTP/1.1; `buffer` (bounded: a chunk line or trailers without an end cannot grow it past
  // the head cap) may already hold the start of the first request.
  template <class Stream>
  asio::awaitable<void> serve(Loop& loop, Stream& stream, beast::flat_buffer& buffer) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    lowest.expires_never();  // the TLS handshake's limit ends here: each read and write has its own
    Deadline deadline(lowest);
    bool first = true;
    bool linger_needed = false;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // the handler's read() sets it
      error_code ec;
      deadline.arm(first ? options.header_timeout : options.keep_alive_timeout);
      loop.idle.insert(&lowest);
      if (stopping) break;
      try {
        co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      } catch (const std::length_error&) {
        ec = bhttp::error::header_limit;  // one field past Beast's own cap (64 KiB): a head too large
      }
      ec = deadline.judge(ec);
      deadline.disarm();
      loop.idle.erase(&lowest);
      first = false;
      if (ec) {
        if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
          reject(431, "request head larger than " + std::to_string(options.max_header_bytes) + " bytes");
          co_await answer_and_close(stream, 431, "request head too large");
        } else if (ec == bhttp::error::partial_message) {
          // The client hung up inside the head: nobody to answer, and not a request to audit
          // (1,000 such connections would otherwise be 1,000 audit lines).
        } else if (ec != bhttp::error::end_of_stream &&
                   ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
          reject(400, "malformed HTTP request: " + ec.message());
          co_await answer_and_close(stream, 400, "malformed HTTP request");
        } else if (ec == beast::error::timeout && buffer.size() > 0) {
          reject(408, "request head not received in time");
          co_await answer_and_close(stream, 408, "request head not received in time");
        }
        break;
      }
      const RequestHead& head = parser.get().base();
      if (static_cast<std::size_t>(std::distance(head.begin(), head.end())) > options.max_header_count) {
        reject(431, "more than " + std::to_string(options.max_header_count) + " header fields", protocol_of(head));
        co_await answer_and_close(stream, 431, "too many header fields");
        break;
      }
      std::optional<unsigned> refused = refuse_transfer_encoding(head);
      if (!refused && head.find(bhttp::field::transfer_encoding) != head.end() &&
          (!parser.chunked() || parser.content_length() || head.version() < 11)) {
        refused = 400u;  // we and Beast must agree the body is chunked, and nothing else frames it
      }
      if (refused) {
        // The body's framing is not one we can trust: answer and close, never read on.
        const std::string te(head[bhttp::field::transfer_encoding]);
        reject(*refused, "Transfer-Encoding '" + te.substr(0, 200) + "' refused", protocol_of(head));
        const std::string_view message = *refused == 501 ? "transfer coding not implemented" : "bad Transfer-Encoding";
        co_await answer_and_close(stream, *refused, message);
        break;
      }
      Exchange exchange;
      exchange.keep_alive = parser.get().keep_alive() && !stopping;
      exchange.head_only = head.method() == bhttp::verb::head;
      SessionBody<Stream> body(stream, deadline, buffer, parser, exchange, options);
      StreamResponder<Stream> responder(stream, deadline, exchange, options.write_timeout);
      ++in_flight;
      try {
        co_await loop.handler(head, body, responder);
      } catch (const std::exception& e) {
        // The handler's failures are values; an exception here is a bug. Answer if we still can.
        spdlog::error("request handler failed: {}", e.what());
      } catch (...) {
        spdlog::error("request handler failed");
      }
      --in_flight;
      if (!responder.started()) {
        exchange.keep_alive = false;
        co_await answer_and_close(stream, 500, "internal error");
        linger_needed = exchange.body_pending;
        break;
      }
      if (!responder.done() || !responder.kept_alive()) {
        linger_needed = responder.done() && exchange.body_pending;
        break;
      }
    }
    loop.idle.erase(&lowest);
    if (linger_needed) co_await linger(stream);
    error_code ignored;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }

  ServerOptions options;
  Rejected rejected;
  std::optional<asio::ssl::context> tls;
  // Before the loops: sessions destroyed with their io_context still give their count back.
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> h2_connections{0};  // open HTTP/2 connections: stop() lets them send GOAWAY
  std::atomic<std::uint64_t> accept_failures{0};
  std::vector<std::unique_ptr<Loop>> loops;
  std::optional<tcp::acceptor> acceptor;  // on loop 0; declared after the loops, so destroyed first
};

Server::Server(ServerOptions options, const HandlerFactory& make_handler, Rejected rejected)
    : impl_(std::make_unique<Impl>(std::move(options), make_handler, std::move(rejected))) {}

Server::Server(ServerOptions options, Handler handler, Rejected rejected)
    : Server(
          std::move(options), [&handler](const boost::asio::any_io_executor&) { return handler; },
          std::move(rejected)) {}

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
    SSL_CTX_set_alpn_select_cb(impl_->tls->native_handle(), &select_protocol, nullptr);
  }
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return make_error("listen: '" + impl_->options.host + "' is not an IP address");
  tcp::acceptor acceptor(impl_->loops[0]->ioc);
  const tcp::endpoint endpoint(address, impl_->options.port);
  // SO_REUSEADDR only (TIME_WAIT after a restart); without SO_REUSEPORT a second gateway on
  // the same address fails here instead of quietly sharing the traffic.
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) + ": " +
                      ec.message());
  }
  const std::uint16_t port = acceptor.local_endpoint().port();
  impl_->acceptor.emplace(std::move(acceptor));
  return port;
}

namespace {
thread_local std::shared_ptr<AbortSignal> this_loop_stopping;
}  // namespace

std::shared_ptr<AbortSignal> loop_stopping() { return this_loop_stopping; }

void Server::start() {
  asio::co_spawn(impl_->loops[0]->ioc, impl_->accept(), asio::detached);
  for (auto& loop : impl_->loops) {
    loop->thread = std::thread([&l = *loop] {
      const Deadlines::Scope scope(*l.deadlines);
      this_loop_stopping = l.stopping;
      l.ioc.run();
      this_loop_stopping.reset();
    });
  }
}

void Server::stop(std::chrono::milliseconds deadline, std::chrono::milliseconds settle) {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->loops[0]->ioc, [this] {
    error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
  });
  for (auto& loop : impl_->loops) {
    asio::post(loop->ioc, [&l = *loop] {
      for (auto* s : l.idle) s->cancel();          // idle keep-alive connections close now
      for (auto* t : l.h2_watchdogs) t->cancel();  // HTTP/2 ones send GOAWAY now
      l.stopping->fire("signgate is stopping");
    });
  }
  // Requests in flight finish; HTTP/2 connections get their GOAWAY out before they close.
  const auto until = std::chrono::steady_clock::now() + deadline;
  while ((impl_->in_flight > 0 || impl_->h2_connections > 0) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (settle.count() > 0) std::this_thread::sleep_for(settle);
  for (auto& loop : impl_->loops) loop->ioc.stop();
  for (auto& loop : impl_->loops) {
    if (loop->thread.joinable()) loop->thread.join();
  }
}

std::size_t Server::loops() const { return impl_->loops.size(); }
asio::io_context& Server::loop(std::size_t i) { return impl_->loops[i]->ioc; }
std::uint64_t Server::open_connections() const { return impl_->connections; }
std::uint64_t Server::requests_in_flight() const { return impl_->in_flight; }
std::uint64_t Server::accept_failures() const { return impl_->accept_failures; }

}  // namespace signgate::http
