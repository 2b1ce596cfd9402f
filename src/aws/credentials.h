// AWS credentials as the signer sees them: immutable, wiped when dropped, never printable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/crypto.h"
#include "common/time.h"

namespace signgate::aws {

class Credentials {
 public:
  Credentials(std::string access_key_id, std::string secret_access_key, std::string session_token = {},
              std::optional<SystemTime> expiration = {});
  ~Credentials();
  Credentials(const Credentials& other);
  Credentials& operator=(const Credentials& other);
  Credentials(Credentials&&) noexcept = default;
  Credentials& operator=(Credentials&&) noexcept = default;

  const std::string& access_key_id() const { return access_key_id_; }
  const std::string& secret_access_key() const { return secret_access_key_; }
  const std::string& session_token() const { return session_token_; }
  const std::optional<SystemTime>& expiration() const { return expiration_; }

  // SHA-256 of the secret: tells two secrets apart (for the signing-key cache)
  // without keeping another copy of the secret itself.
  const Digest& secret_fingerprint() const { return secret_fingerprint_; }

 private:
  std::string access_key_id_;
  std::string secret_access_key_;
  std::string session_token_;
  std::optional<SystemTime> expiration_;
  Digest secret_fingerprint_;
};

}  // namespace signgate::aws
