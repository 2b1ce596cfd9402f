// The listener: Boost.Beast, one coroutine per connection, one event loop per thread (each
// thread accepts on its own SO_REUSEPORT socket), HTTP/1.1 keep-alive, a deadline on every
// read and write, a request body limit, and a graceful stop that lets requests in flight
// finish up to a deadline.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"

namespace signgate::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

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
};

// Runs on the connection's loop; `loop` is the index of that loop (per-loop state lives there).
using Handler = std::function<boost::asio::awaitable<void>(const Request&, Responder&, std::size_t loop)>;

// What to do with a request the server itself refuses (too large, malformed, timed out).
using Refusal = std::function<void(unsigned status, const std::string& reason, const Request* partial)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t threads = 1;
  std::uint64_t max_body_bytes = 20 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{15'000};  // whole request head
  std::chrono::milliseconds body_timeout{60'000};    // whole request body
  std::chrono::milliseconds write_timeout{60'000};   // each write
  std::chrono::milliseconds keep_alive_timeout{75'000};
  std::string tls_cert;  // PEM chain; with tls_key, the listener speaks TLS only
  std::string tls_key;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler, Refusal refusal = {});
  ~Server();

  // Binds and listens on every loop's socket; fails with the reason (address in use, ...).
  Result<std::uint16_t> listen();
  // Runs the loops on their threads (returns at once).
  void start();
  // Stops accepting; waits for requests in flight up to `deadline`, then closes the rest.
  void stop(std::chrono::milliseconds deadline);

  std::size_t loops() const;
  boost::asio::io_context& loop(std::size_t i);
  std::uint64_t open_connections() const;
  std::uint64_t requests_in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace signgate::http
