#include "common/crypto.h"

#include <gtest/gtest.h>

namespace signgate {
namespace {

// FIPS 180-2 test vector: the digest every SigV4 payload hash is built on.
TEST(Crypto, Sha256OfAbc) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// A body read in pieces hashes to what the whole body does.
TEST(Crypto, IncrementalSha256MatchesOneShot) {
  std::string body(100000, 'x');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  Sha256 h;
  for (std::size_t i = 0; i < body.size(); i += 4093) h.update(std::string_view(body).substr(i, 4093));
  EXPECT_EQ(hex_lower(h.finish()), sha256_hex(body));
  h.update("abc");  // reusable after finish
  EXPECT_EQ(hex_lower(h.finish()), sha256_hex("abc"));
}

// RFC 4231 test case 2.
TEST(Crypto, HmacSha256Rfc4231) {
  EXPECT_EQ(hex_lower(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// The precomputed-pad key gives the same MAC as OpenSSL's HMAC for short, block-sized
// and longer-than-a-block keys (RFC 4231 case 6 uses a 131-byte key).
TEST(Crypto, HmacKeyMatchesOneShotForAllKeyLengths) {
  for (std::size_t len : {0u, 1u, 32u, 63u, 64u, 65u, 131u}) {
    const std::string key(len, '\xaa');
    const std::string msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    EXPECT_EQ(hex_lower(HmacKey(key).sign(msg)), hex_lower(hmac_sha256(key, msg))) << len;
  }
  EXPECT_EQ(hex_lower(HmacKey(std::string(131, '\xaa')).sign("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// A moved-from key is empty and the moved-to key still signs.
TEST(Crypto, HmacKeyMoves) {
  HmacKey a("key");
  const auto expected = hmac_sha256("key", "data");
  HmacKey b(std::move(a));
  EXPECT_EQ(b.sign("data"), expected);
  HmacKey c("other");
  c = std::move(b);
  EXPECT_EQ(c.sign("data"), expected);
}

TEST(Crypto, WipeAndConstantTimeEqual) {
  std::string secret = "wJalrXUtnFEMI";
  secure_wipe(secret);
  EXPECT_TRUE(secret.empty());
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
}

// Random bytes are drawn from a pool: requests of any size, across refills, are all random.
TEST(Crypto, RandomBytesAcrossPoolRefills) {
  std::string a(10000, '\0'), b(10000, '\0');
  random_bytes(reinterpret_cast<unsigned char*>(a.data()), a.size());
  random_bytes(reinterpret_cast<unsigned char*>(b.data()), b.size());
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(0, 4096), a.substr(4096, 4096));
  EXPECT_NE(a.find_first_not_of('\0'), std::string::npos);
}

}  // namespace
}  // namespace signgate
