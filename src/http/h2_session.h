// HTTP/2 server connections (RFC 9113) on the listener's loops, with nghttp2 doing the framing,
// HPACK and the protocol's rules. Each stream becomes one call of the same Handler HTTP/1.1
// requests go to: the head first, the body on demand, the answer whole or piece by piece.
//
// Flow control is manual: a stream's DATA is acknowledged (WINDOW_UPDATE) only as its handler
// reads it, so before authentication a stream can hold at most its initial window, and a slow
// reader of an answer stalls only its own stream. Limits: concurrent streams, the decoded size
// and count of a header block, the body per stream and in memory per connection, a rate of
// control frames (PING, SETTINGS, RST_STREAM, PRIORITY, empty DATA and CONTINUATION), and the
// requests one connection may make. nghttp2 itself limits CONTINUATION frames and rapid resets.
#pragma once

#include <utility>  // Asio 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "http/server.h"

namespace signgate::http {

// The client connection preface: a cleartext connection that starts with it speaks HTTP/2
// with prior knowledge.
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// What a connection needs from its server.
struct H2Hooks {
  const ServerOptions* options = nullptr;
  const Handler* handler = nullptr;
  const std::atomic<bool>* stopping = nullptr;      // set: finish the streams begun, take no more
  std::atomic<std::uint64_t>* in_flight = nullptr;  // requests being handled, for a graceful stop
  std::function<void(unsigned status, const std::string& reason)> reject;
  // The loop's timers to wake when the server starts stopping (used only on that loop): the
  // connection's watchdog, which then sends GOAWAY at once.
  std::set<boost::asio::steady_timer*>* stop_wakes = nullptr;
};

// Serves one HTTP/2 connection until it closes; `preread` holds the bytes already read from
// it (the preface, at least). Returns once every stream's handler has returned.
template <class Stream>
boost::asio::awaitable<void> serve_h2(Stream& stream, std::string preread, H2Hooks hooks);

}  // namespace signgate::http
