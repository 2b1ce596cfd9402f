// The upstream HTTP/1.1 client: asynchronous, one keep-alive pool per origin, TLS verified
// against the system store (or a CA file) with SNI, CONNECT through HTTPS_PROXY, and
// response bodies read piece by piece so the caller sets the pace (back-pressure).
//
// A Client belongs to one event loop: create it, call it and destroy it on the same
// executor. It is not thread-safe; each loop has its own.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/abort.h"
#include "http/message.h"
#include "http/proxy.h"
#include "http/url.h"

namespace signgate::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};      // DNS + TCP + CONNECT + TLS handshake
  std::chrono::milliseconds first_byte_timeout{60'000};  // request sent → response head in
  std::chrono::milliseconds idle_timeout{60'000};        // each write, each body read
  std::chrono::milliseconds pool_idle_timeout{30'000};   // idle pooled connections are closed after
  // Enough for every request a loop has in flight: past this, a burst reconnects (and with
  // Bedrock re-handshakes TLS, about a millisecond of CPU) for each request over the cap.
  std::size_t max_idle_per_origin = 512;
  std::string ca_file;  // empty: the system store (SSL_CERT_FILE / SSL_CERT_DIR honoured)
  ProxySettings proxy;
};

struct ClientStats {
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_reused = 0;
  std::uint64_t stale_retries = 0;  // a pooled connection the server had closed; sent again
};

class Client;
struct Connection;

// A response whose head has arrived. It owns its connection until the body has been read
// to the end (then the connection goes back to the pool) or it is dropped (then it is closed).
class Response {
 public:
  Response(Response&&) noexcept;
  Response& operator=(Response&&) noexcept;
  ~Response();

  const ResponseHead& head() const { return head_; }
  unsigned status() const { return head_.status; }

  // The next piece of the body; an empty view once the body is complete (done() is then true).
  // The view is valid until the next call.
  boost::asio::awaitable<Result<std::string_view>> read_some();
  bool done() const;
  // Replaces the signal whose firing stops the reading of the body (the caller's, from send()):
  // null reads on whoever leaves; another signal (a deadline's, say) stops it instead.
  void set_abort(std::shared_ptr<AbortSignal> abort);

  // The rest of the body, failing once it grows past `limit` bytes.
  boost::asio::awaitable<Result<std::string>> read_all(std::size_t limit);

  struct State;  // the connection and the parser; defined in client.cc

 private:
  friend class Client;
  explicit Response(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  ResponseHead head_;
};

class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `req` to `url`'s origin (headers exactly as given, plus Content-Length when the
  // method has a body) and waits for the response head. Fails with one readable line:
  // DNS, connect, proxy, TLS, timeout or a malformed answer. A pooled connection the
  // server had already closed is retried once on a new one.
  //
  // When `abort` fires (the caller this is for went away) once the request is on a
  // connection, sending it or waiting for or reading the answer, that connection is closed
  // and the wait fails at once; connecting (bounded by connect_timeout) is not interrupted,
  // and a signal already fired fails the call before anything is sent.
  boost::asio::awaitable<Result<Response>> send(const Url& url, const http::Request& req, std::string_view body,
                                                std::shared_ptr<AbortSignal> abort = nullptr);

  // The same with a timeout shorter than the configured ones (IMDS wants 1 s).
  boost::asio::awaitable<Result<Response>> send(const Url& url, const http::Request& req, std::string_view body,
                                                std::chrono::milliseconds overall_timeout,
                                                std::shared_ptr<AbortSignal> abort = nullptr);

  // The same with the answer's head due within `head_timeout` (connecting, sending and the
  // first byte: what is left of a route's deadline); its body is then read as configured.
  boost::asio::awaitable<Result<Response>> send_head_within(const Url& url, const http::Request& req,
                                                            std::string_view body,
                                                            std::chrono::milliseconds head_timeout,
                                                            std::shared_ptr<AbortSignal> abort = nullptr);

  const ClientStats& stats() const;
  std::size_t idle_connections() const;

  struct Impl;  // the pool, the TLS context and the options; defined in client.cc

 private:
  boost::asio::awaitable<Result<Response>> send_timed(const Url& url, const http::Request& req, std::string_view body,
                                                      std::chrono::milliseconds connect,
                                                      std::chrono::milliseconds first_byte,
                                                      std::chrono::milliseconds idle,
                                                      std::shared_ptr<AbortSignal> abort);
  std::shared_ptr<Impl> impl_;
};

// Convenience for small control-plane answers (STS, IMDS, ECS): the status, head and
// whole body, capped at `limit` bytes.
struct SmallResponse {
  ResponseHead head;
  std::string body;
};
boost::asio::awaitable<Result<SmallResponse>> fetch_small(Client& client, const Url& url, const http::Request& req,
                                                          std::string_view body, std::chrono::milliseconds timeout,
                                                          std::size_t limit = 1 << 20);

}  // namespace signgate::http
