#include "http/tls_files.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <memory>

namespace signgate::http {
namespace {

std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "OpenSSL gave no reason";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
}

}  // namespace

std::optional<std::string> tls_files_problem(const std::string& cert, const std::string& key) {
  for (const auto& [name, path] : {std::pair{"tls.cert", &cert}, std::pair{"tls.key", &key}}) {
    if (::access(path->c_str(), R_OK) != 0) {
      return std::string(name) + ": " + *path + " cannot be read (does it exist, and may signgate read it?)";
    }
  }
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return "tls: OpenSSL could not make a context: " + openssl_reason();
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    return "tls.cert: " + cert + " is not a PEM certificate chain: " + openssl_reason();
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return "tls.key: " + key + " does not belong to the certificate in " + cert;
    }
    return "tls.key: " + key + " is not a PEM private key: " + openssl_reason();
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return "tls.key: " + key + " does not belong to the certificate in " + cert + ": " + openssl_reason();
  }
  return std::nullopt;
}

}  // namespace signgate::http
