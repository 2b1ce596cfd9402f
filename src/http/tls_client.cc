#include "http/tls_client.h"

#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>

namespace signgate::http {

std::string configure_client_tls(boost::asio::ssl::context& ctx, const std::string& ca_file) {
  namespace ssl = boost::asio::ssl;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(ca_file, ec);
  }
  if (!ec) return {};
  std::string why = "loading CA certificates from " + (ca_file.empty() ? std::string("the system store") : ca_file);
  const char* reason = ec.category() == boost::asio::error::get_ssl_category()
                           ? ERR_reason_error_string(static_cast<unsigned long>(ec.value()))
                           : nullptr;
  return why + ": " + (reason != nullptr ? std::string(reason) : ec.message());
}

}  // namespace signgate::http
