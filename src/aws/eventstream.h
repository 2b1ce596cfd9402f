// AWS event-stream (application/vnd.amazon.eventstream): the framing of Bedrock's
// streaming answers. An incremental decoder that takes any byte split, and an encoder.
//
// Frame: total_length:u32 headers_length:u32 prelude_crc:u32 headers payload message_crc:u32
// (big-endian; CRC-32/IEEE; the message CRC covers everything before it).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace signgate::aws::eventstream {

enum class HeaderType : std::uint8_t {
  kBoolTrue = 0,
  kBoolFalse = 1,
  kByte = 2,
  kInt16 = 3,
  kInt32 = 4,
  kInt64 = 5,
  kByteArray = 6,
  kString = 7,
  kTimestamp = 8,  // milliseconds since the epoch
  kUuid = 9,
};

using Uuid = std::array<std::uint8_t, 16>;

struct HeaderValue {
  HeaderType type = HeaderType::kString;
  // bool (types 0/1), int64_t (2,3,4,5,8), std::string (6,7: bytes), Uuid (9).
  std::variant<bool, std::int64_t, std::string, Uuid> value;

  static HeaderValue boolean(bool b) { return {b ? HeaderType::kBoolTrue : HeaderType::kBoolFalse, b}; }
  static HeaderValue string(std::string s) { return {HeaderType::kString, std::move(s)}; }
  static HeaderValue bytes(std::string s) { return {HeaderType::kByteArray, std::move(s)}; }
  static HeaderValue integer(HeaderType t, std::int64_t v) { return {t, v}; }
  static HeaderValue uuid(const Uuid& u) { return {HeaderType::kUuid, u}; }
};

struct Header {
  std::string name;
  HeaderValue value;
};

struct Message {
  std::vector<Header> headers;
  std::string payload;
  std::uint32_t prelude_crc = 0;
  std::uint32_t message_crc = 0;
  std::uint32_t total_length = 0;
  std::uint32_t headers_length = 0;

  // The value of a string header (":event-type", ":message-type", ...), or nullptr.
  const std::string* string_header(std::string_view name) const;
};

enum class Error {
  kNone = 0,
  kPreludeChecksumMismatch,
  kMessageChecksumMismatch,
  kMessageTooShort,  // total_length below the 16-byte minimum
  kMessageTooLarge,  // total_length over Limits::max_message_bytes
  kHeadersTooLarge,  // headers_length over Limits::max_headers_bytes or past the frame
  kMalformedHeader,  // truncated header, unknown type, empty name
};

// "Prelude checksum mismatch", "Message checksum mismatch", ...
std::string_view to_string(Error e);

struct Limits {
  std::uint32_t max_message_bytes = 16 * 1024 * 1024;  // AWS: 16 MiB per message
  std::uint32_t max_headers_bytes = 128 * 1024;        // AWS: 128 KiB of headers
};

inline constexpr std::size_t kPreludeBytes = 12;
inline constexpr std::size_t kMinMessageBytes = 16;

// CRC-32/IEEE (zlib's), continuing from `crc`. libdeflate's: with PCLMULQDQ, 5× zlib's speed on
// the 100–400-byte frames a stream is made of (one pass over each frame).
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);

class Decoder {
 public:
  struct Result {
    // The decoder's own message, valid until the next feed(): one Message serves the whole
    // stream, so its strings keep their room frame to frame.
    const Message* message = nullptr;
    std::size_t consumed = 0;  // bytes taken from the input; feed the rest again
    Error error = Error::kNone;
  };

  explicit Decoder(Limits limits = {}) : limits_(limits) {}

  // Feeds bytes. Returns one whole message when one is complete, with the number of
  // bytes of `data` it took; call again with the rest. Bytes of an incomplete message
  // are kept inside (consumed == data.size(), no message). After an error the stream
  // is unusable: every later call returns the same error.
  Result feed(std::string_view data);

  // True when no partial message is held: the stream may end here.
  bool idle() const { return pending_.empty() && error_ == Error::kNone; }
  Error error() const { return error_; }

 private:
  // Checks a complete prelude; returns the total length or sets error_.
  std::optional<std::uint32_t> check_prelude(const unsigned char* p);
  Result parse_frame(std::string_view frame, std::size_t consumed);

  Limits limits_;
  std::string pending_;
  std::uint32_t pending_total_ = 0;  // known once the prelude has been checked
  Error error_ = Error::kNone;
  Message message_;  // the last message decoded, lent out by feed()
};

// Decodes one whole frame from the start of `frame` (exactly one message's bytes).
Error decode_frame(std::string_view frame, Message& out, const Limits& limits = {});

// Encodes one frame.
std::string encode(const std::vector<Header>& headers, std::string_view payload);

}  // namespace signgate::aws::eventstream
