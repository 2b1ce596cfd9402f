// aws-sdk-go's event-stream vectors (Apache-2.0, see tests/data/eventstream-aws-sdk-go/LICENSE.txt):
// positive frames decode to exactly the JSON given and re-encode to the same bytes;
// negative ones fail with the stated reason.
#include "aws/eventstream.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "testdata.h"

#include "common/base64.h"

namespace signgate::aws::eventstream {
namespace {

namespace fs = std::filesystem;
const fs::path kVectors = testing_support::kTestData / "eventstream-aws-sdk-go";

using testing_support::read_file;

std::vector<std::string> names(const char* kind) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kVectors / "encoded" / kind)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The vectors store CRCs as signed 32-bit integers.
std::uint32_t as_u32(const nlohmann::json& j) { return static_cast<std::uint32_t>(j.get<std::int64_t>() & 0xffffffff); }

class Positive : public testing::TestWithParam<std::string> {};

TEST_P(Positive, DecodesToTheGivenJsonAndReencodesToTheSameBytes) {
  const std::string encoded = read_file(kVectors / "encoded/positive" / GetParam());
  const auto want = nlohmann::json::parse(read_file(kVectors / "decoded/positive" / GetParam()));
  Decoder d;
  auto r = d.feed(encoded);
  ASSERT_EQ(r.error, Error::kNone) << to_string(r.error);
  ASSERT_TRUE(r.message);
  EXPECT_EQ(r.consumed, encoded.size());
  const Message& m = *r.message;
  EXPECT_EQ(m.total_length, want["total_length"].get<std::uint32_t>());
  EXPECT_EQ(m.headers_length, want["headers_length"].get<std::uint32_t>());
  EXPECT_EQ(m.prelude_crc, as_u32(want["prelude_crc"]));
  EXPECT_EQ(m.message_crc, as_u32(want["message_crc"]));
  EXPECT_EQ(base64_encode(m.payload), want["payload"].get<std::string>());
  ASSERT_EQ(m.headers.size(), want["headers"].size());
  for (std::size_t i = 0; i < m.headers.size(); ++i) {
    const auto& wh = want["headers"][i];
    const Header& h = m.headers[i];
    EXPECT_EQ(h.name, wh["name"].get<std::string>());
    EXPECT_EQ(static_cast<int>(h.value.type), wh["type"].get<int>());
    switch (h.value.type) {
      case HeaderType::kBoolTrue:
      case HeaderType::kBoolFalse: EXPECT_EQ(std::get<bool>(h.value.value), wh["value"].get<bool>()); break;
      case HeaderType::kByteArray:
      case HeaderType::kString:
        EXPECT_EQ(base64_encode(std::get<std::string>(h.value.value)), wh["value"].get<std::string>());
        break;
      case HeaderType::kUuid: {
        const auto& u = std::get<Uuid>(h.value.value);
        EXPECT_EQ(base64_encode(std::string(u.begin(), u.end())), wh["value"].get<std::string>());
        break;
      }
      default: EXPECT_EQ(std::get<std::int64_t>(h.value.value), wh["value"].get<std::int64_t>());
    }
  }
  EXPECT_EQ(encode(m.headers, m.payload), encoded);
  EXPECT_TRUE(d.idle());
}

INSTANTIATE_TEST_SUITE_P(AwsSdkGo, Positive, testing::ValuesIn(names("positive")));

class Negative : public testing::TestWithParam<std::string> {};

TEST_P(Negative, FailsWithTheStatedReason) {
  const std::string encoded = read_file(kVectors / "encoded/negative" / GetParam());
  std::string reason = read_file(kVectors / "decoded/negative" / GetParam());
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r')) reason.pop_back();
  Decoder d;
  auto r = d.feed(encoded);
  EXPECT_FALSE(r.message);
  EXPECT_EQ(to_string(r.error), reason);
}

INSTANTIATE_TEST_SUITE_P(AwsSdkGo, Negative, testing::ValuesIn(names("negative")));

}  // namespace
}  // namespace signgate::aws::eventstream
