// OpenSSL 3 marks the SHA256_* functions deprecated in favour of EVP, but EVP costs a
// provider dispatch per call and an allocation per context copy; the signer's hot path
// needs neither. Same assembly (SHA-NI where the CPU has it) underneath.
#define OPENSSL_API_COMPAT 0x10100000L
#define OPENSSL_SUPPRESS_DEPRECATED

#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

namespace signgate {
namespace {

constexpr std::size_t kBlock = 64;

}  // namespace

// Not OpenSSL's SHA256() one-shot: in 3.0 it goes through EVP_Q_digest and fetches the
// algorithm on every call.
Digest sha256(std::string_view data) {
  Digest out;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

std::string hex_lower(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

Sha256::Sha256() { SHA256_Init(&ctx_); }

Sha256::~Sha256() { OPENSSL_cleanse(&ctx_, sizeof ctx_); }

void Sha256::update(std::string_view data) { SHA256_Update(&ctx_, data.data(), data.size()); }

Digest Sha256::finish() {
  Digest out;
  SHA256_Final(out.data(), &ctx_);
  SHA256_Init(&ctx_);
  return out;
}

Digest hmac_sha256(std::string_view key, std::string_view data) { return HmacKey(key).sign(data); }

HmacKey::HmacKey(std::string_view key) {
  // RFC 2104: keys longer than the block are hashed first.
  unsigned char k[kBlock] = {};
  if (key.size() > kBlock) {
    Digest d = sha256(key);
    std::memcpy(k, d.data(), d.size());
    OPENSSL_cleanse(d.data(), d.size());
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char ipad[kBlock], opad[kBlock];
  for (std::size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  SHA256_Init(&inner_);
  SHA256_Update(&inner_, ipad, kBlock);
  SHA256_Init(&outer_);
  SHA256_Update(&outer_, opad, kBlock);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
}

HmacKey::~HmacKey() { wipe(); }

HmacKey::HmacKey(HmacKey&& other) noexcept : inner_(other.inner_), outer_(other.outer_) { other.wipe(); }

HmacKey& HmacKey::operator=(HmacKey&& other) noexcept {
  if (this != &other) {
    inner_ = other.inner_;
    outer_ = other.outer_;
    other.wipe();
  }
  return *this;
}

void HmacKey::wipe() noexcept {
  OPENSSL_cleanse(&inner_, sizeof inner_);
  OPENSSL_cleanse(&outer_, sizeof outer_);
}

Digest HmacKey::sign(std::string_view data) const {
  SHA256_CTX ctx = inner_;
  Digest inner_digest;
  Digest out;
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(inner_digest.data(), &ctx);
  ctx = outer_;
  SHA256_Update(&ctx, inner_digest.data(), inner_digest.size());
  SHA256_Final(out.data(), &ctx);
  OPENSSL_cleanse(&ctx, sizeof ctx);
  return out;
}

void secure_wipe(void* data, std::size_t size) noexcept { OPENSSL_cleanse(data, size); }

void secure_wipe(std::string& s) noexcept {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<Digest> digest_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Digest d{};
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return d;
}

namespace {

// Bumped in a forked child: a pool inherited from the parent would hand both the same bytes.
std::atomic<unsigned> fork_generation{0};
const int fork_watch = pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });

}  // namespace

void random_bytes(unsigned char* out, std::size_t size) {
  struct Pool {
    std::array<unsigned char, 4096> bytes;
    std::size_t used = 4096;  // empty until the first draw
    unsigned generation = 0;
    ~Pool() {
      OPENSSL_cleanse(bytes.data(), bytes.size());
      used = bytes.size();  // a late call (another thread-local's destructor) draws anew
    }
  };
  thread_local Pool pool;
  (void)fork_watch;
  if (const unsigned now = fork_generation.load(std::memory_order_relaxed); now != pool.generation) {
    pool.used = pool.bytes.size();
    pool.generation = now;
  }
  while (size > 0) {
    if (pool.used == pool.bytes.size()) {
      if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) {
        throw std::runtime_error("OpenSSL's random generator failed");
      }
      pool.used = 0;
    }
    const std::size_t n = std::min(size, pool.bytes.size() - pool.used);
    std::memcpy(out, pool.bytes.data() + pool.used, n);
    OPENSSL_cleanse(pool.bytes.data() + pool.used, n);  // handed out once, never again
    pool.used += n;
    out += n;
    size -= n;
  }
}

}  // namespace signgate
