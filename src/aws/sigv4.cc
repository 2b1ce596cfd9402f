#include "aws/sigv4.h"

#include <algorithm>

#include "aws/uri.h"
#include "common/strings.h"

namespace signgate::aws {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void erase_headers(HeaderList& headers, std::string_view name) {
  std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
}

}  // namespace

SigningOptions SigningOptions::for_service(std::string region, std::string service) {
  SigningOptions o;
  o.region = std::move(region);
  o.service = std::move(service);
  if (o.service == "s3" || o.service == "s3-object-lambda") {
    o.normalize_path = false;
    o.double_encode_path = false;
    o.add_content_sha256_header = true;
  }
  return o;
}

bool is_unsigned_header(std::string_view n) {
  return n == "user-agent" || n == "expect" || n == "x-amzn-trace-id" || n == "authorization";
}

// Appends runs of non-space bytes whole: most values have no white space to fold.
void append_trim_all(std::string& out, std::string_view value) {
  std::size_t i = 0;
  bool first = true;
  while (i < value.size()) {
    while (i < value.size() && is_space(value[i])) ++i;
    std::size_t j = i;
    while (j < value.size() && !is_space(value[j])) ++j;
    if (j > i) {
      if (!first) out.push_back(' ');
      out.append(value.data() + i, j - i);
      first = false;
    }
    i = j;
  }
}

std::string trim_all(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_trim_all(out, value);
  return out;
}

CanonicalHeaders canonical_headers(const HeaderList& headers) {
  // Lower-cased names go into one buffer, so a request costs one allocation here, not one per header.
  std::size_t name_bytes = 0;
  for (const Header& h : headers) name_bytes += h.name.size();
  std::string names(name_bytes, '\0');
  struct Entry {
    std::string_view name;
    const std::string* value;
  };
  std::vector<Entry> entries;
  entries.reserve(headers.size());
  std::size_t offset = 0;
  for (const Header& h : headers) {
    char* dst = names.data() + offset;
    std::transform(h.name.begin(), h.name.end(), dst, ascii_lower);
    const std::string_view name(dst, h.name.size());
    offset += h.name.size();
    if (is_unsigned_header(name)) continue;
    entries.push_back({name, &h.value});
  }
  // Insertion sort: stable (repeated names keep their order), allocation-free, and
  // fastest for the handful of headers a request carries.
  for (std::size_t i = 1; i < entries.size(); ++i) {
    const Entry e = entries[i];
    std::size_t j = i;
    for (; j > 0 && e.name < entries[j - 1].name; --j) entries[j] = entries[j - 1];
    entries[j] = e;
  }
  CanonicalHeaders out;
  std::size_t text_bytes = 0;
  for (const Entry& e : entries) text_bytes += e.name.size() + e.value->size() + 2;
  out.text.reserve(text_bytes);
  out.signed_headers.reserve(name_bytes + entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const bool repeat = i > 0 && entries[i].name == entries[i - 1].name;
    if (repeat) {
      out.text.back() = ',';  // replace the previous line's '\n'
    } else {
      out.text.append(entries[i].name);
      out.text.push_back(':');
      if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
      out.signed_headers.append(entries[i].name);
    }
    append_trim_all(out.text, *entries[i].value);
    out.text.push_back('\n');
  }
  return out;
}

std::string canonical_request(const HttpRequest& req, std::string_view payload_hash, const SigningOptions& opts,
                              std::string* signed_headers) {
  CanonicalHeaders ch = canonical_headers(req.headers);
  std::string out;
  out.reserve(req.method.size() + req.path.size() * 2 + req.query.size() * 2 + ch.text.size() +
              ch.signed_headers.size() + payload_hash.size() + 8);
  out.append(req.method);
  out.push_back('\n');
  append_canonical_uri(out, req.path, opts.normalize_path, opts.double_encode_path);
  out.push_back('\n');
  if (!req.query.empty()) out.append(canonical_query(req.query));
  out.push_back('\n');
  out.append(ch.text);
  out.push_back('\n');
  out.append(ch.signed_headers);
  out.push_back('\n');
  out.append(payload_hash);
  if (signed_headers != nullptr) *signed_headers = std::move(ch.signed_headers);
  return out;
}

std::string credential_scope(std::string_view date8, std::string_view region, std::string_view service) {
  std::string s;
  s.reserve(date8.size() + region.size() + service.size() + 16);
  s.append(date8).append("/").append(region).append("/").append(service).append("/aws4_request");
  return s;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  std::string s;
  s.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 64 + 3);
  s.append(kAlgorithm).append("\n").append(amz_date).append("\n").append(scope).append("\n");
  s.append(sha256_hex(canonical_request));
  return s;
}

Digest signing_key_bytes(std::string_view secret_access_key, std::string_view date8, std::string_view region,
                         std::string_view service) {
  std::string k_secret = "AWS4";
  k_secret.append(secret_access_key);
  Digest k = hmac_sha256(k_secret, date8);
  secure_wipe(k_secret);
  for (std::string_view step : {region, service, std::string_view("aws4_request")}) {
    Digest next = hmac_sha256(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()), step);
    secure_wipe(k.data(), k.size());
    k = next;
    secure_wipe(next.data(), next.size());
  }
  return k;
}

HmacKey derive_signing_key(std::string_view secret_access_key, std::string_view date8, std::string_view region,
                           std::string_view service) {
  Digest k = signing_key_bytes(secret_access_key, date8, region, service);
  HmacKey key(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
  secure_wipe(k.data(), k.size());
  return key;
}

std::string authorization_value(std::string_view access_key_id, std::string_view scope, std::string_view signed_headers,
                                std::string_view signature) {
  std::string s;
  s.reserve(access_key_id.size() + scope.size() + signed_headers.size() + signature.size() + 64);
  s.append(kAlgorithm).append(" Credential=").append(access_key_id).append("/").append(scope);
  s.append(", SignedHeaders=").append(signed_headers).append(", Signature=").append(signature);
  return s;
}

const HmacKey& SigningKeyCache::get(const Credentials& creds, std::string_view date8, std::string_view region,
                                    std::string_view service) {
  for (Entry& e : entries_) {
    if (e.date8 == date8 && e.access_key_id == creds.access_key_id() && e.region == region && e.service == service &&
        e.secret_fingerprint == creds.secret_fingerprint()) {
      return e.key;
    }
  }
  if (entries_.size() >= capacity_) entries_.erase(entries_.begin());
  ++derivations_;
  entries_.push_back(Entry{creds.access_key_id(), creds.secret_fingerprint(), std::string(date8), std::string(region),
                           std::string(service),
                           derive_signing_key(creds.secret_access_key(), date8, region, service)});
  return entries_.back().key;
}

Signature Signer::sign(HttpRequest& req, std::string_view payload_hash, const Credentials& creds,
                       const SigningOptions& opts) {
  Signature sig;
  sig.amz_date = format_amz_date(clock_());
  const std::string_view date8 = std::string_view(sig.amz_date).substr(0, 8);

  erase_headers(req.headers, "authorization");
  erase_headers(req.headers, "x-amz-date");
  erase_headers(req.headers, "x-amz-security-token");
  req.headers.push_back({"X-Amz-Date", sig.amz_date});
  const bool token = !creds.session_token().empty();
  if (token && opts.sign_session_token) {
    req.headers.push_back({"X-Amz-Security-Token", creds.session_token()});
  }
  if (opts.add_content_sha256_header) {
    erase_headers(req.headers, "x-amz-content-sha256");
    req.headers.push_back({"x-amz-content-sha256", std::string(payload_hash)});
  }

  sig.canonical_request = canonical_request(req, payload_hash, opts, &sig.signed_headers);
  const std::string scope = credential_scope(date8, opts.region, opts.service);
  sig.string_to_sign = string_to_sign(sig.amz_date, scope, sig.canonical_request);
  const HmacKey& key = keys_.get(creds, date8, opts.region, opts.service);
  sig.signature = hex_lower(key.sign(sig.string_to_sign));

  if (token && !opts.sign_session_token) {
    req.headers.push_back({"X-Amz-Security-Token", creds.session_token()});
  }
  req.headers.push_back(
      {"Authorization", authorization_value(creds.access_key_id(), scope, sig.signed_headers, sig.signature)});
  return sig;
}

Signature Signer::presign(HttpRequest& req, std::string_view payload_hash, const Credentials& creds,
                          const SigningOptions& opts, std::chrono::seconds expires) {
  Signature sig;
  sig.amz_date = format_amz_date(clock_());
  const std::string_view date8 = std::string_view(sig.amz_date).substr(0, 8);
  const std::string scope = credential_scope(date8, opts.region, opts.service);
  erase_headers(req.headers, "authorization");
  sig.signed_headers = canonical_headers(req.headers).signed_headers;

  auto add_param = [&req](std::string_view name, std::string_view value) {
    if (!req.query.empty()) req.query.push_back('&');
    req.query.append(name);
    req.query.push_back('=');
    uri_encode(value, req.query);
  };
  add_param("X-Amz-Algorithm", kAlgorithm);
  add_param("X-Amz-Credential", std::string(creds.access_key_id()) + "/" + scope);
  add_param("X-Amz-Date", sig.amz_date);
  add_param("X-Amz-SignedHeaders", sig.signed_headers);
  add_param("X-Amz-Expires", std::to_string(expires.count()));
  const bool token = !creds.session_token().empty();
  if (token && opts.sign_session_token) add_param("X-Amz-Security-Token", creds.session_token());

  sig.canonical_request = canonical_request(req, payload_hash, opts);
  sig.string_to_sign = string_to_sign(sig.amz_date, scope, sig.canonical_request);
  sig.signature = hex_lower(keys_.get(creds, date8, opts.region, opts.service).sign(sig.string_to_sign));

  if (token && !opts.sign_session_token) add_param("X-Amz-Security-Token", creds.session_token());
  add_param("X-Amz-Signature", sig.signature);
  return sig;
}

}  // namespace signgate::aws
