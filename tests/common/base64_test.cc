#include "common/base64.h"

#include <gtest/gtest.h>

namespace signgate {
namespace {

// RFC 4648 §10 vectors, both ways.
TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain));
  }
}

// Binary bytes, NULs included, survive the round trip.
TEST(Base64, BinaryRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
}

// Broken input is refused instead of decoding to garbage.
TEST(Base64, RejectsInvalidInput) {
  EXPECT_FALSE(base64_decode("Zg="));     // length not a multiple of 4
  EXPECT_FALSE(base64_decode("Z!=="));    // alphabet
  EXPECT_FALSE(base64_decode("Zm9v\n"));  // white space
  EXPECT_FALSE(base64_decode(" Zm9"));
}

}  // namespace
}  // namespace signgate
