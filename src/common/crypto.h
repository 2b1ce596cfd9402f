// SHA-256 and HMAC-SHA256 on OpenSSL 3, shaped for the signer's hot path.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/sha.h>

namespace signgate {

using Digest = std::array<unsigned char, 32>;

// One-shot SHA-256 of `data`.
Digest sha256(std::string_view data);

// Lower-case hex of `size` bytes; the SigV4 wire form of digests and signatures.
std::string hex_lower(const unsigned char* bytes, std::size_t size);
inline std::string hex_lower(const Digest& d) { return hex_lower(d.data(), d.size()); }

inline std::string sha256_hex(std::string_view data) { return hex_lower(sha256(data)); }
// The digest written as 64 lower-case hex digits (as the config holds it), or nullopt.
std::optional<Digest> digest_from_hex(std::string_view hex);

// Fills `out` with `size` bytes from OpenSSL's CSPRNG (RAND_bytes), drawn 4 KiB at a time per
// thread, so an id costs a copy rather than a lock and a DRBG call. Throws std::runtime_error
// if OpenSSL cannot seed itself.
void random_bytes(unsigned char* out, std::size_t size);

// Incremental SHA-256, for bodies that arrive in pieces (a file, a stream).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data);
  // Returns the digest; the object is reset and may be reused.
  Digest finish();

 private:
  SHA256_CTX ctx_;
};

// One-shot HMAC-SHA256; used for the four-step signing-key derivation.
Digest hmac_sha256(std::string_view key, std::string_view data);

// An HMAC-SHA256 key with its inner and outer pad states computed once, so each
// signature costs only the message's own compression rounds and two struct copies
// (no allocation, no provider dispatch). Wiped when dropped.
class HmacKey {
 public:
  explicit HmacKey(std::string_view key);
  ~HmacKey();
  HmacKey(HmacKey&& other) noexcept;
  HmacKey& operator=(HmacKey&& other) noexcept;
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  Digest sign(std::string_view data) const;

 private:
  void wipe() noexcept;
  SHA256_CTX inner_;
  SHA256_CTX outer_;
};

// Overwrites memory in a way the optimiser may not remove (OPENSSL_cleanse).
void secure_wipe(void* data, std::size_t size) noexcept;
void secure_wipe(std::string& s) noexcept;

// Constant-time equality for secrets and MACs of equal length.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace signgate
