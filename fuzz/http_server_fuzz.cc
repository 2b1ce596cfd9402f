// The HTTP/1.1 server as a caller meets it: each input is the bytes of one connection (heads,
// chunked bodies, pipelined requests, garbage), sent over loopback to the real Server and
// session code; the caller then closes its side. The server must answer or close every
// connection (never hang on it) and, under ASan/UBSan, never touch memory it should not.
// The handler reads the body as the gateway does: only when the head says who is calling.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/beast/http/field.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/server.h"
#include "loopback_server.h"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::uint16_t port = signgate::fuzzing::start_server(handle);
  signgate::fuzzing::send_and_drain(port, std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
