// The listener: Boost.Beast, one coroutine per connection, one event loop per thread. One
// listening socket (no SO_REUSEPORT: a second process cannot bind the same address and take
// part of the traffic) whose connections are dealt to the loops in turn. HTTP/1.1 keep-alive,
// a deadline on every read and write, caps on the head, chunk lines, trailers, body and open
// connections, and a graceful stop that lets requests in flight finish up to a deadline.
//
// The handler gets the request head first and reads the body only if and when it wants it:
// a caller is authenticated before any body byte is read or `100 Continue` is sent.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "http/abort.h"

namespace signgate::http {

using RequestHead = boost::beast::http::request_header<>;

// Why a body could not be read; each maps to one status.
enum class BodyError {
  kNone,
  kTooLarge,   // 413: over the limit the handler gave (Content-Length alone may say so)
  kTimeout,    // 408
  kMalformed,  // 400: bad chunk framing, a chunk line or trailers over the cap
  kClosed,     // the client went away: nobody to answer
};

struct Body {
  std::string bytes;
  BodyError error = BodyError::kNone;
};

// The request body, read on demand. `100 Continue` is sent (when asked for) by the first
// read, so a caller refused from the head never gets it.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // The whole body, at most `limit` bytes. Call at most once.
  virtual boost::asio::awaitable<Body> read(std::uint64_t limit) = 0;
  // True when the head announces a body (Content-Length > 0 or chunked).
  virtual bool announced() const = 0;
};

// How a handler answers: either one whole response, or a head followed by body pieces
// (chunked), each written before the next is accepted — the caller's pace is the pace.
class Responder {
 public:
  virtual ~Responder() = default;
  // Each returns false once the client is gone; the handler should then stop.
  virtual boost::asio::awaitable<bool> send(unsigned status, std::vector<std::pair<std::string, std::string>> headers,
                                            std::string body) = 0;
  virtual boost::asio::awaitable<bool> start_stream(unsigned status,
                                                    std::vector<std::pair<std::string, std::string>> headers) = 0;
  virtual boost::asio::awaitable<bool> write(std::string_view piece) = 0;
  virtual boost::asio::awaitable<bool> finish() = 0;
  virtual bool started() const = 0;
  virtual std::uint64_t bytes_written() const = 0;
  // Fired when the client gives the request up before its answer ends (an HTTP/2 stream
  // reset, its connection lost); null where that is only learnt by writing (HTTP/1.1).
  virtual std::shared_ptr<AbortSignal> abort_signal() { return nullptr; }
};

// Runs on the connection's loop.
using Handler = std::function<boost::asio::awaitable<void>(const RequestHead&, BodyReader&, Responder&)>;
// Makes one loop's handler, on that loop's executor: per-loop state (an upstream connection
// pool, say) lives in the handler and is only ever used from its loop.
using HandlerFactory = std::function<Handler(const boost::asio::any_io_executor&)>;

// Told of each request the server answers itself (malformed, head too large, timed out),
// for the audit log and metrics; `reason` is for the log, the caller gets a short message;
// `protocol` is what protocol_of() names.
using Rejected = std::function<void(unsigned status, const std::string& reason, std::string_view protocol)>;

// The protocol a request came in on, as ALPN names it: "h2" (an HTTP/2 stream's head says
// version 20), "http/1.0" or "http/1.1". One of these three, so it can be a metrics label.
std::string_view protocol_of(const RequestHead& head);

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t threads = 1;
  std::size_t max_header_bytes = 64 * 1024;          // request line + fields; also each chunk line and the trailers
  std::size_t max_header_count = 100;                // fields in the head
  std::uint64_t max_connections = 10'000;            // open at once; beyond it the listener waits
  std::chrono::milliseconds header_timeout{15'000};  // whole request head
  std::chrono::milliseconds body_timeout{60'000};    // whole request body
  std::chrono::milliseconds write_timeout{60'000};   // each write
  std::chrono::milliseconds keep_alive_timeout{75'000};
  std::chrono::milliseconds linger_timeout{2'000};  // reading and dropping an unread body before closing
  std::string tls_cert;                             // PEM chain; with tls_key, the listener speaks TLS only
  std::string tls_key;
};

class Server {
 public:
  Server(ServerOptions options, const HandlerFactory& make_handler, Rejected rejected = {});
  // The same handler on every loop.
  Server(ServerOptions options, Handler handler, Rejected rejected = {});
  ~Server();

  // Binds and listens; fails with the reason (address in use, ...).
  Result<std::uint16_t> listen();
  // Runs the loops on their threads (returns at once).
  void start();
  // Stops accepting; waits for requests in flight up to `deadline`, then closes the rest.
  // `settle`: how long the loops keep running once no request is in flight, for the work the
  // requests left behind (a token charge on its way to Redis) before they stop.
  void stop(std::chrono::milliseconds deadline, std::chrono::milliseconds settle = std::chrono::milliseconds(0));

  std::size_t loops() const;
  boost::asio::io_context& loop(std::size_t i);
  std::uint64_t open_connections() const;
  std::uint64_t requests_in_flight() const;
  // Times accepting failed (descriptors exhausted, ...) and paused.
  std::uint64_t accept_failures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Fired on a server's event loop when the server starts to stop (null on a thread that is not
// one of its loops): work that would wait long for nobody, a stream whose caller left, gives up.
std::shared_ptr<AbortSignal> loop_stopping();

// The request's transfer codings, judged as RFC 9112 §6.1 asks: nullopt when acceptable
// (none, or exactly "chunked"), else 400 (final coding not chunked, chunked twice) or 501
// (a coding signgate does not decode). Bodies with such framing are never read.
std::optional<unsigned> refuse_transfer_encoding(const RequestHead& head);

}  // namespace signgate::http
