// The HTTP/1.1 server as a caller meets it: each input is the bytes of one connection (heads,
// chunked bodies, pipelined requests, garbage), sent over loopback to the real Server and
// session code; the caller then closes its side. The server must answer or close every
// connection (never hang on it) and, under ASan/UBSan, never touch memory it should not.
// The handler reads the body as the gateway does: only when the head says who is calling.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/beast/http/field.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "http/server.h"

namespace {

using namespace signgate::http;

boost::asio::awaitable<void> handle(const RequestHead& head, BodyReader& body, Responder& res) {
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "text/plain"}};
  if (head["x-api-key"].empty()) {
    co_await res.send(401, std::move(headers), "no key");
    co_return;
  }
  Body b = co_await body.read(64 * 1024);
  if (b.error != BodyError::kNone) {
    co_await res.send(b.error == BodyError::kTooLarge ? 413 : 400, std::move(headers), "bad body");
    co_return;
  }
  if (head.target() == "/stream") {
    if (co_await res.start_stream(200, std::move(headers)) && co_await res.write(b.bytes)) co_await res.finish();
    co_return;
  }
  co_await res.send(200, std::move(headers), std::to_string(b.bytes.size()));
}

std::uint16_t start_server() {
  static std::unique_ptr<Server> server;
  ServerOptions o;
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
  server = std::make_unique<Server>(o, handle);
  auto port = server->listen();
  if (!port) std::abort();
  server->start();
  return *port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::uint16_t port = start_server();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) std::abort();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  timeval timeout{5, 0};  // well past every server deadline: a hang is a bug
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered and closed before taking it all: fine
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) std::abort();  // the server kept a finished caller
    break;
  }
  ::close(fd);
  return 0;
}
