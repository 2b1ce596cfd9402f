#include "aws/credentials.h"

namespace signgate::aws {

Credentials::Credentials(std::string access_key_id, std::string secret_access_key, std::string session_token,
                         std::optional<SystemTime> expiration)
    : access_key_id_(std::move(access_key_id)),
      secret_access_key_(std::move(secret_access_key)),
      session_token_(std::move(session_token)),
      expiration_(expiration),
      secret_fingerprint_(sha256(secret_access_key_)) {}

Credentials::~Credentials() {
  secure_wipe(secret_access_key_);
  secure_wipe(session_token_);
}

Credentials::Credentials(const Credentials& other) = default;

Credentials& Credentials::operator=(const Credentials& other) {
  if (this != &other) {
    secure_wipe(secret_access_key_);
    secure_wipe(session_token_);
    access_key_id_ = other.access_key_id_;
    secret_access_key_ = other.secret_access_key_;
    session_token_ = other.session_token_;
    expiration_ = other.expiration_;
    secret_fingerprint_ = other.secret_fingerprint_;
  }
  return *this;
}

}  // namespace signgate::aws
