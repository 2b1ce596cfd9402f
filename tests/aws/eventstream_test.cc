#include "aws/eventstream.h"

#include <gtest/gtest.h>

namespace signgate::aws::eventstream {
namespace {

std::string converse_frame(const std::string& event, const std::string& json) {
  return encode({{":event-type", HeaderValue::string(event)},
                 {":content-type", HeaderValue::string("application/json")},
                 {":message-type", HeaderValue::string("event")}},
                json);
}

// A stream shaped like ConverseStream's: start, deltas, stop, metadata.
std::string converse_stream(int deltas) {
  std::string s = converse_frame("messageStart", R"({"role":"assistant"})");
  for (int i = 0; i < deltas; ++i) {
    s += converse_frame("contentBlockDelta",
                        R"({"contentBlockIndex":0,"delta":{"text":"token )" + std::to_string(i) + R"("}})");
  }
  s += converse_frame("messageStop", R"({"stopReason":"end_turn"})");
  s += converse_frame("metadata", R"({"usage":{"inputTokens":12,"outputTokens":34}})");
  return s;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A frame built by hand around arbitrary header bytes, with valid CRCs and the given
// lengths (defaults: the true ones), to reach checks that come after the CRCs.
std::string raw_frame(const std::string& header_bytes, std::uint32_t total = 0, std::uint32_t headers_len = 0) {
  std::string out;
  put_u32(out, total ? total : static_cast<std::uint32_t>(16 + header_bytes.size()));
  put_u32(out, headers_len ? headers_len : static_cast<std::uint32_t>(header_bytes.size()));
  const std::uint32_t prelude_crc = crc32(out);
  put_u32(out, prelude_crc);
  out += header_bytes;
  put_u32(out, crc32(std::string_view(out).substr(8), prelude_crc));
  return out;
}

std::vector<Message> decode_all(Decoder& d, std::string_view data) {
  std::vector<Message> out;
  while (!data.empty()) {
    auto r = d.feed(data);
    EXPECT_EQ(r.error, Error::kNone) << to_string(r.error);
    if (r.error != Error::kNone) break;
    if (r.message) out.push_back(std::move(*r.message));
    data.remove_prefix(r.consumed);
  }
  return out;
}

// Every header type survives encode → decode with its value.
TEST(EventStream, RoundTripsAllTenHeaderTypes) {
  Uuid uuid{};
  for (int i = 0; i < 16; ++i) uuid[i] = static_cast<std::uint8_t>(i + 1);
  const std::vector<Header> headers = {
      {"t", HeaderValue::boolean(true)},
      {"f", HeaderValue::boolean(false)},
      {"byte", HeaderValue::integer(HeaderType::kByte, -49)},
      {"i16", HeaderValue::integer(HeaderType::kInt16, -12345)},
      {"i32", HeaderValue::integer(HeaderType::kInt32, -40972)},
      {"i64", HeaderValue::integer(HeaderType::kInt64, -4242424242424242LL)},
      {"bytes", HeaderValue::bytes(std::string("\0\x01\xff", 3))},
      {"str", HeaderValue::string("application/json")},
      {"ts", HeaderValue::integer(HeaderType::kTimestamp, 1700000000123LL)},
      {"uuid", HeaderValue::uuid(uuid)},
  };
  const std::string frame = encode(headers, "{'foo':'bar'}");
  Message m;
  ASSERT_EQ(decode_frame(frame, m), Error::kNone);
  ASSERT_EQ(m.headers.size(), headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    EXPECT_EQ(m.headers[i].name, headers[i].name);
    EXPECT_EQ(m.headers[i].value.type, headers[i].value.type);
    EXPECT_EQ(m.headers[i].value.value, headers[i].value.value) << headers[i].name;
  }
  EXPECT_EQ(m.payload, "{'foo':'bar'}");
  EXPECT_EQ(m.total_length, frame.size());
}

// Whatever the split point, a multi-message buffer decodes to the same messages.
TEST(EventStream, DecodesAtEverySplitPoint) {
  const std::string stream = converse_stream(3);
  Decoder whole;
  const auto reference = decode_all(whole, stream);
  ASSERT_EQ(reference.size(), 6u);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    Decoder d;
    auto got = decode_all(d, std::string_view(stream).substr(0, split));
    auto rest = decode_all(d, std::string_view(stream).substr(split));
    got.insert(got.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    ASSERT_EQ(got.size(), reference.size()) << "split at " << split;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].payload, reference[i].payload);
      EXPECT_EQ(*got[i].string_header(":event-type"), *reference[i].string_header(":event-type"));
    }
    EXPECT_TRUE(d.idle());
  }
}

// One byte at a time, as a slow network might deliver it.
TEST(EventStream, DecodesByteByByte) {
  const std::string stream = converse_stream(5);
  Decoder d;
  std::vector<std::string> events;
  for (char c : stream) {
    auto r = d.feed(std::string_view(&c, 1));
    ASSERT_EQ(r.error, Error::kNone);
    ASSERT_EQ(r.consumed, 1u);
    if (r.message) events.push_back(*r.message->string_header(":event-type"));
  }
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events.front(), "messageStart");
  EXPECT_EQ(events.back(), "metadata");
  EXPECT_TRUE(d.idle());
}

// A stream cut mid-message is not idle: the caller can tell truncation from a clean end.
TEST(EventStream, TruncatedStreamIsNotIdle) {
  const std::string frame = converse_frame("messageStart", "{}");
  Decoder d;
  auto r = d.feed(std::string_view(frame).substr(0, frame.size() - 1));
  EXPECT_FALSE(r.message);
  EXPECT_FALSE(d.idle());
}

// A corrupted length is caught by the prelude CRC before anything is allocated for it.
TEST(EventStream, PreludeCrcIsCheckedFirst) {
  std::string frame = converse_frame("messageStart", "{}");
  frame[1] = '\x7f';  // claims ~2 GiB
  Decoder d;
  auto r = d.feed(frame);
  EXPECT_EQ(r.error, Error::kPreludeChecksumMismatch);
  // Sticky: the stream cannot resynchronise.
  EXPECT_EQ(d.feed(converse_frame("x", "{}")).error, Error::kPreludeChecksumMismatch);
  EXPECT_FALSE(d.idle());
}

TEST(EventStream, PayloadCorruptionFailsMessageCrc) {
  std::string frame = converse_frame("contentBlockDelta", R"({"text":"hi"})");
  frame[frame.size() - 6] ^= 0x20;
  Decoder d;
  EXPECT_EQ(d.feed(frame).error, Error::kMessageChecksumMismatch);
}

// Hard caps: a peer cannot make the decoder buffer more than the limits allow.
TEST(EventStream, EnforcesSizeLimits) {
  const std::string big = encode({}, std::string(4096, 'x'));
  Decoder small({/*max_message_bytes=*/1024, /*max_headers_bytes=*/128});
  EXPECT_EQ(small.feed(std::string_view(big).substr(0, 12)).error, Error::kMessageTooLarge);

  const std::string many_headers = encode({{"h", HeaderValue::string(std::string(200, 'v'))}}, "");
  Decoder d2({1024, 128});
  EXPECT_EQ(d2.feed(many_headers).error, Error::kHeadersTooLarge);
}

// A prelude whose lengths do not fit together is refused, even with a valid CRC.
TEST(EventStream, RejectsInconsistentLengths) {
  EXPECT_EQ(Decoder().feed(raw_frame("", 8, 0)).error, Error::kMessageTooShort);
  EXPECT_EQ(Decoder().feed(raw_frame("", 20, 5)).error, Error::kHeadersTooLarge);
}

// Header bytes that run past the header block, or an unknown type, are malformed.
TEST(EventStream, RejectsMalformedHeaders) {
  Message m;
  EXPECT_EQ(decode_frame(raw_frame(std::string("\x01"
                                               "a"
                                               "\x0a",
                                               3)),
                         m),
            Error::kMalformedHeader);
  EXPECT_EQ(decode_frame(raw_frame(std::string("\x01"
                                               "a"
                                               "\x07"
                                               "\x00\x09"
                                               "abc",
                                               8)),
                         m),
            Error::kMalformedHeader);
  EXPECT_EQ(decode_frame(raw_frame(std::string("\x05"
                                               "ab",
                                               3)),
                         m),
            Error::kMalformedHeader);
  EXPECT_EQ(decode_frame(raw_frame(std::string("\x00"
                                               "\x00",
                                               2)),
                         m),
            Error::kMalformedHeader);
  EXPECT_EQ(decode_frame(raw_frame(std::string("\x01"
                                               "a"
                                               "\x04"
                                               "\x00\x00",
                                               5)),
                         m),
            Error::kMalformedHeader);
}

// The encoder refuses what the format cannot carry.
TEST(EventStream, EncoderRejectsOversizedFields) {
  EXPECT_THROW(encode({{std::string(256, 'n'), HeaderValue::boolean(true)}}, ""), std::invalid_argument);
  EXPECT_THROW(encode({{"", HeaderValue::boolean(true)}}, ""), std::invalid_argument);
  EXPECT_THROW(encode({{"v", HeaderValue::string(std::string(70000, 'v'))}}, ""), std::invalid_argument);
}

}  // namespace
}  // namespace signgate::aws::eventstream
