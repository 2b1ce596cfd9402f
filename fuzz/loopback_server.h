// What the fuzz targets that drive the real HTTP server share: one Server on 127.0.0.1 with
// short deadlines and small caps, and a connection that sends one input and reads until the
// server closes. Header-only: each target includes it once.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "http/server.h"

namespace signgate::fuzzing {

// Starts (once per process) a server with `handler`; returns its port.
inline std::uint16_t start_server(const signgate::http::Handler& handler) {
  static std::unique_ptr<signgate::http::Server> server;
  signgate::http::ServerOptions o;
  o.port = 0;
  o.threads = 1;
  o.max_header_bytes = 4096;
  o.max_header_count = 32;
  o.max_connections = 64;
  o.header_timeout = std::chrono::milliseconds(1000);
  o.body_timeout = std::chrono::milliseconds(1000);
  o.write_timeout = std::chrono::milliseconds(1000);
  o.keep_alive_timeout = std::chrono::milliseconds(1000);
  o.linger_timeout = std::chrono::milliseconds(100);
  server = std::make_unique<signgate::http::Server>(o, handler);
  auto port = server->listen();
  if (!port) std::abort();
  server->start();
  return *port;
}

// Sends `bytes` on a new connection while reading (and dropping) what the server sends, so
// neither side's buffers fill; then half-closes and waits for the server to close. A server
// that keeps a finished caller for 9 s (past every deadline above, within libFuzzer's
// -timeout=10) aborts: a hang is a bug.
inline void send_and_drain(std::uint16_t port, std::string_view bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) std::abort();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(9);
  std::size_t sent = 0;
  bool write_open = true;
  char buf[16 * 1024];
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline) std::abort();
    if (write_open && sent == bytes.size()) {
      ::shutdown(fd, SHUT_WR);
      write_open = false;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) std::abort();
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;  // closed
    }
    if (write_open && (p.revents & POLLOUT)) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        write_open = false;  // the server closed before taking it all: fine
      }
    }
  }
  ::close(fd);
}

}  // namespace signgate::fuzzing
