// AWS Signature Version 4 in three visible stages — canonical request, string to sign,
// authorization — each callable and tested on its own. No I/O here.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "aws/credentials.h"
#include "common/crypto.h"
#include "common/time.h"
#include "http/message.h"

namespace signgate::aws {

// The signer works on the plain request the HTTP client sends.
using http::Header;
using http::HeaderList;
using HttpRequest = http::Request;

struct SigningOptions {
  std::string region;
  std::string service;
  bool normalize_path = true;              // remove dot segments and empty segments
  bool double_encode_path = true;          // encode each (already wire-encoded) path segment again
  bool sign_session_token = true;          // false: the token is added after signing (some services)
  bool add_content_sha256_header = false;  // send x-amz-content-sha256 (S3 wants it)

  // The service's rules: S3 neither normalises nor double-encodes and wants the hash header.
  static SigningOptions for_service(std::string region, std::string service);
};

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Headers never signed: proxies and client libraries rewrite them (AWS SDKs skip the same).
bool is_unsigned_header(std::string_view lower_name);

// Header value as SigV4 canonicalises it: trimmed, each run of white space (line folds
// included) made one space.
std::string trim_all(std::string_view value);
void append_trim_all(std::string& out, std::string_view value);

struct CanonicalHeaders {
  std::string text;            // "host:example.amazonaws.com\nx-amz-date:...\n"
  std::string signed_headers;  // "host;x-amz-date"
};

// Lower-cased names, sorted; repeated names joined with ',' in the order they appear.
CanonicalHeaders canonical_headers(const HeaderList& headers);

// Stage 1. Returns the canonical request; `signed_headers` receives the SignedHeaders list.
std::string canonical_request(const HttpRequest& req, std::string_view payload_hash, const SigningOptions& opts,
                              std::string* signed_headers = nullptr);

// "20150830/us-east-1/service/aws4_request".
std::string credential_scope(std::string_view date8, std::string_view region, std::string_view service);

// Stage 2.
std::string string_to_sign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);

// Stage 3: kSecret -> kDate -> kRegion -> kService -> kSigning. The raw key (callers
// wipe it), and the same key ready to sign with.
Digest signing_key_bytes(std::string_view secret_access_key, std::string_view date8, std::string_view region,
                         std::string_view service);
HmacKey derive_signing_key(std::string_view secret_access_key, std::string_view date8, std::string_view region,
                           std::string_view service);

std::string authorization_value(std::string_view access_key_id, std::string_view scope, std::string_view signed_headers,
                                std::string_view signature);

// Signing keys per (access key, secret, date, region, service); a few entries, oldest
// dropped first, each wiped when dropped. Not thread-safe: one per event loop.
class SigningKeyCache {
 public:
  explicit SigningKeyCache(std::size_t capacity = 8) : capacity_(capacity) {}
  const HmacKey& get(const Credentials& creds, std::string_view date8, std::string_view region,
                     std::string_view service);
  std::size_t size() const { return entries_.size(); }
  std::size_t derivations() const { return derivations_; }

 private:
  struct Entry {
    std::string access_key_id;
    Digest secret_fingerprint;
    std::string date8, region, service;
    HmacKey key;
  };
  std::size_t capacity_;
  std::size_t derivations_ = 0;
  std::vector<Entry> entries_;  // most recently derived last
};

// Every stage of one signature, for tests, `signgate sign --verbose` and debugging.
struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // hex
  std::string signed_headers;
  std::string amz_date;
};

class Signer {
 public:
  explicit Signer(Clock clock = system_now) : clock_(std::move(clock)) {}

  // Header form: sets X-Amz-Date, X-Amz-Security-Token (when the credentials have one),
  // x-amz-content-sha256 (if asked) and Authorization on `req`, replacing earlier ones.
  Signature sign(HttpRequest& req, std::string_view payload_hash, const Credentials& creds, const SigningOptions& opts);

  // Query (presigned) form: appends the X-Amz-* parameters and X-Amz-Signature to
  // `req.query`; valid for `expires`.
  Signature presign(HttpRequest& req, std::string_view payload_hash, const Credentials& creds,
                    const SigningOptions& opts, std::chrono::seconds expires);

  SigningKeyCache& key_cache() { return keys_; }

 private:
  Clock clock_;
  SigningKeyCache keys_;
};

}  // namespace signgate::aws
