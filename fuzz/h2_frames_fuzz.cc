// HTTP/2 frame by frame into the real server session. Each input is a script of frames sent,
// after the client preface, over loopback to the real Server (nghttp2 plus signgate's session
// code, its limits, flow control and stream handlers). The script chooses what each frame says;
// the harness writes the frame headers, so lengths always agree and the fuzzer's time goes to
// what frames mean. Header blocks are HPACK-encoded by nghttp2's deflater from fields the script
// picks (so field validation, the head limits and the handlers run), or are raw bytes (so
// decoding is fuzzed too). The server must answer or close every connection, never hang on
// one, and, under ASan, never touch memory it should not.
//
// Script, byte by byte (a short read ends it): an opcode, then its operands.
//   0 HEADERS  stream, flags (1 END_STREAM, 2 leave the block open), method, path, fields
//   1 CONTINUATION  stream, flags (2 leave the block open), fields
//   2 DATA  stream, flags (1 END_STREAM, 2 PADDED, 4 raw payload), u16 length
//   3 RST_STREAM  stream, u32 code      4 SETTINGS  flags (1 ACK), count, (u16 id, u32 value)...
//   5 PING  flags, 8 bytes             6 WINDOW_UPDATE  stream, u32 increment
//   7 PRIORITY  stream, 5 bytes         8 GOAWAY  u32 last stream, u32 code
//   9 any frame  type, flags, stream, u16 length, payload
//  10 HEADERS with a raw block  stream, flags, u16 length, block
//  11 the previous frame again, count times (floods)
// A stream is one byte: below 200 an odd ID from 1 to 39, below 250 stream 0, else a u32.
// Fields: a count (at most 12), then each a name choice (a known name, or a string) and a value
// (a string, or for "x-big" a u16 length of 'a's). Strings are a length byte and that many bytes.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <nghttp2/nghttp2.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/h2_session.h"
#include "http/server.h"
#include "loopback_server.h"

namespace {

using namespace signgate::http;
namespace asio = boost::asio;

// Answers as the gateway does: the key from the head first, the body only then; "/stream"
// echoes the body as a stream, "/slow" waits as an upstream would, until its caller goes.
asio::awaitable<void> handle(const RequestHead& head, BodyReader& body, Responder& res) {
  std::vector<std::pair<std::string, std::string>> headers{{"content-type", "text/plain"}};
  if (head["x-api-key"].empty()) {
    co_await res.send(401, std::move(headers), "no key");
    co_return;
  }
  Body b = co_await body.read(256 * 1024);
  if (b.error != BodyError::kNone) {
    co_await res.send(b.error == BodyError::kTooLarge ? 413 : 400, std::move(headers), "bad body");
    co_return;
  }
  const std::string_view target = head.target();
  if (target == "/slow") {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(20));
    const AbortScope scope(res.abort_signal(), [&timer] { timer.cancel(); });
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (target == "/stream" || target == "/slow") {
    if (!co_await res.start_stream(200, std::move(headers))) co_return;
    for (int i = 0; i < 4; ++i) {
      if (!co_await res.write(b.bytes)) co_return;
    }
    co_await res.finish();
    co_return;
  }
  co_await res.send(200, std::move(headers), std::to_string(b.bytes.size()));
}

// Reads the script front to back; a read past the end yields zeros and ends the script.
class Script {
 public:
  Script(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  bool more() const { return p_ < end_; }
  std::uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
  std::uint32_t u32() { return (std::uint32_t{u16()} << 16) | u16(); }
  std::string bytes(std::size_t n) {
    n = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
    std::string out(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return out;
  }
  std::string text() { return bytes(u8()); }
  std::uint32_t stream() {
    const std::uint8_t s = u8();
    if (s < 200) return static_cast<std::uint32_t>(s % 20) * 2 + 1;
    if (s < 250) return 0;
    return u32() & 0x7fffffffu;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

void put_frame(std::string& out, std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
               std::string_view payload) {
  const std::size_t n = std::min<std::size_t>(payload.size(), 0xffffff);
  const std::array<char, 9> head = {
      static_cast<char>(n >> 16),      static_cast<char>(n >> 8),      static_cast<char>(n),
      static_cast<char>(type),         static_cast<char>(flags),       static_cast<char>((stream >> 24) & 0x7f),
      static_cast<char>(stream >> 16), static_cast<char>(stream >> 8), static_cast<char>(stream)};
  out.append(head.data(), head.size());
  out.append(payload.substr(0, n));
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

constexpr std::array<std::string_view, 6> kMethods = {"GET", "POST", "HEAD", "CONNECT", "OPTIONS", "get"};
constexpr std::array<std::string_view, 6> kPaths = {"/echo", "/stream", "/slow", "*", "", "/a?b=c"};
constexpr std::array<std::string_view, 12> kNames = {
    "x-api-key", "content-length", "content-type",      "te",    "connection", "cookie",
    "x-big",     "Upper-Case",     "transfer-encoding", ":path", ":status",    "expect"};

// A connection's HPACK encoder: its dynamic table lives as long as the connection.
class Encoder {
 public:
  Encoder() {
    if (nghttp2_hd_deflate_new(&deflater_, 4096) != 0) std::abort();
  }
  ~Encoder() { nghttp2_hd_deflate_del(deflater_); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  std::string encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    const auto n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(out.data()), out.size(), nva.data(),
                                         nva.size());
    out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return out;
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

void read_fields(Script& s, std::vector<std::pair<std::string, std::string>>& fields) {
  const std::size_t count = s.u8() % 13;
  for (std::size_t i = 0; i < count && s.more(); ++i) {
    const std::uint8_t choice = s.u8();
    std::string name = choice < kNames.size() ? std::string(kNames[choice]) : s.text();
    std::string value = name == "x-big" ? std::string(s.u16(), 'a') : s.text();
    fields.emplace_back(std::move(name), std::move(value));
  }
}

// The frames a script describes, after the preface and an empty SETTINGS.
std::string frames_of(Script& s) {
  std::string out(kH2Preface);
  put_frame(out, 4, 0, 0, "");
  Encoder encoder;
  std::string last;
  while (s.more()) {
    std::string frame;
    switch (s.u8() % 12) {
      case 0: {
        const std::uint32_t id = s.stream();
        const std::uint8_t flags = s.u8();
        std::vector<std::pair<std::string, std::string>> fields = {
            {":method", std::string(kMethods[s.u8() % kMethods.size()])},
            {":scheme", "http"},
            {":path", std::string(kPaths[s.u8() % kPaths.size()])},
            {":authority", "fuzz"}};
        read_fields(s, fields);
        put_frame(frame, 1, static_cast<std::uint8_t>((flags & 1) | ((flags & 2) ? 0 : 4)), id, encoder.encode(fields));
        break;
      }
      case 1: {
        const std::uint32_t id = s.stream();
        const std::uint8_t flags = s.u8();
        std::vector<std::pair<std::string, std::string>> fields;
        read_fields(s, fields);
        put_frame(frame, 9, (flags & 2) ? 0 : 4, id, encoder.encode(fields));
        break;
      }
      case 2: {
        const std::uint32_t id = s.stream();
        const std::uint8_t flags = s.u8();
        const std::uint16_t length = s.u16();
        std::string payload = (flags & 4) ? s.bytes(length) : std::string(length, 'd');
        if (flags & 2) payload.insert(0, 1, static_cast<char>(payload.size() / 2));  // pad length
        put_frame(frame, 0, static_cast<std::uint8_t>((flags & 1) | (flags & 2 ? 8 : 0)), id, payload);
        break;
      }
      case 3: {
        const std::uint32_t id = s.stream();
        put_frame(frame, 3, 0, id, be32(s.u32()));
        break;
      }
      case 4: {
        const std::uint8_t flags = s.u8();
        std::string payload;
        const std::size_t count = s.u8() % 7;
        for (std::size_t i = 0; i < count; ++i) {
          const std::uint16_t id = s.u16();
          payload += static_cast<char>(id >> 8);
          payload += static_cast<char>(id);
          payload += be32(s.u32());
        }
        put_frame(frame, 4, flags & 1, 0, (flags & 1) ? "" : payload);
        break;
      }
      case 5: {
        const std::uint8_t flags = s.u8();
        put_frame(frame, 6, flags & 1, 0, s.bytes(8));
        break;
      }
      case 6: {
        const std::uint32_t id = s.stream();
        put_frame(frame, 8, 0, id, be32(s.u32()));
        break;
      }
      case 7: {
        const std::uint32_t id = s.stream();
        put_frame(frame, 2, 0, id, s.bytes(5));
        break;
      }
      case 8: {
        const std::uint32_t last_stream = s.u32();
        put_frame(frame, 7, 0, 0, be32(last_stream) + be32(s.u32()));
        break;
      }
      case 9: {
        const std::uint8_t type = s.u8();
        const std::uint8_t flags = s.u8();
        const std::uint32_t id = s.stream();
        put_frame(frame, type, flags, id, s.bytes(s.u16()));
        break;
      }
      case 10: {
        const std::uint32_t id = s.stream();
        const std::uint8_t flags = s.u8();
        put_frame(frame, 1, flags, id, s.bytes(s.u16()));
        break;
      }
      default: {
        const std::size_t count = std::size_t{s.u8()} * 8;
        for (std::size_t i = 0; i < count && out.size() < (4u << 20); ++i) out += last;
        break;
      }
    }
    if (!frame.empty()) last = frame;
    out += frame;
    if (out.size() > (4u << 20)) break;  // enough for any flood the limits know
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::uint16_t port = signgate::fuzzing::start_server(handle);
  Script script(data, size);
  signgate::fuzzing::send_and_drain(port, frames_of(script));
  return 0;
}
