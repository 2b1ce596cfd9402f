#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace signgate {
namespace {

// Fetched once: implicit fetching on every EVP_DigestInit costs a lock and a lookup.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw std::runtime_error("OpenSSL: SHA256 is not available");
  return md;
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

// A per-thread scratch context, reused so hashing allocates nothing.
EVP_MD_CTX* scratch_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

void check(int ok, const char* what) {
  if (ok != 1) throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

constexpr std::size_t kBlock = 64;

}  // namespace

Digest sha256(std::string_view data) {
  Digest out;
  EVP_MD_CTX* ctx = scratch_ctx();
  check(EVP_DigestInit_ex2(ctx, sha256_md(), nullptr), "DigestInit");
  check(EVP_DigestUpdate(ctx, data.data(), data.size()), "DigestUpdate");
  check(EVP_DigestFinal_ex(ctx, out.data(), nullptr), "DigestFinal");
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

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
  check(EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr), "DigestInit");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(std::string_view data) {
  check(EVP_DigestUpdate(ctx_, data.data(), data.size()), "DigestUpdate");
}

Digest Sha256::finish() {
  Digest out;
  check(EVP_DigestFinal_ex(ctx_, out.data(), nullptr), "DigestFinal");
  check(EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr), "DigestInit");
  return out;
}

Digest hmac_sha256(std::string_view key, std::string_view data) {
  Digest out;
  unsigned int len = 0;
  if (HMAC(sha256_md(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr) {
    throw std::runtime_error("OpenSSL: HMAC failed");
  }
  return out;
}

HmacKey::HmacKey(std::string_view key) : inner_(EVP_MD_CTX_new()), outer_(EVP_MD_CTX_new()) {
  if (inner_ == nullptr || outer_ == nullptr) {
    reset();
    throw std::bad_alloc();
  }
  // RFC 2104: keys longer than the block are hashed first.
  unsigned char k[kBlock] = {};
  if (key.size() > kBlock) {
    Digest d = sha256(key);
    std::memcpy(k, d.data(), d.size());
    secure_wipe(d.data(), d.size());
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char ipad[kBlock], opad[kBlock];
  for (std::size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  check(EVP_DigestInit_ex2(inner_, sha256_md(), nullptr), "DigestInit");
  check(EVP_DigestUpdate(inner_, ipad, kBlock), "DigestUpdate");
  check(EVP_DigestInit_ex2(outer_, sha256_md(), nullptr), "DigestInit");
  check(EVP_DigestUpdate(outer_, opad, kBlock), "DigestUpdate");
  secure_wipe(k, sizeof k);
  secure_wipe(ipad, sizeof ipad);
  secure_wipe(opad, sizeof opad);
}

HmacKey::~HmacKey() { reset(); }

HmacKey::HmacKey(HmacKey&& other) noexcept : inner_(other.inner_), outer_(other.outer_) {
  other.inner_ = other.outer_ = nullptr;
}

HmacKey& HmacKey::operator=(HmacKey&& other) noexcept {
  if (this != &other) {
    reset();
    inner_ = other.inner_;
    outer_ = other.outer_;
    other.inner_ = other.outer_ = nullptr;
  }
  return *this;
}

// EVP_MD_CTX_free cleanses the digest state (OpenSSL clears provider contexts on free).
void HmacKey::reset() noexcept {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
  inner_ = outer_ = nullptr;
}

Digest HmacKey::sign(std::string_view data) const {
  EVP_MD_CTX* ctx = scratch_ctx();
  Digest inner_digest;
  Digest out;
  check(EVP_MD_CTX_copy_ex(ctx, inner_), "MD_CTX_copy");
  check(EVP_DigestUpdate(ctx, data.data(), data.size()), "DigestUpdate");
  check(EVP_DigestFinal_ex(ctx, inner_digest.data(), nullptr), "DigestFinal");
  check(EVP_MD_CTX_copy_ex(ctx, outer_), "MD_CTX_copy");
  check(EVP_DigestUpdate(ctx, inner_digest.data(), inner_digest.size()), "DigestUpdate");
  check(EVP_DigestFinal_ex(ctx, out.data(), nullptr), "DigestFinal");
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

}  // namespace signgate
