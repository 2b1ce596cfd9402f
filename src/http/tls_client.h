// The client side of TLS as signgate speaks it to the services it calls (Bedrock, STS, Redis):
// TLS 1.2 or later, peers verified against the system store (SSL_CERT_FILE / SSL_CERT_DIR
// honoured) or a CA file, SNI, and the peer's name checked against the host dialled.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream_base.hpp>

#include <openssl/ssl.h>

#include <string>

namespace signgate::http {

// Sets up `ctx` for client connections; returns an empty string, or why the CA certificates
// could not be loaded (every handshake should then fail with that reason).
std::string configure_client_tls(boost::asio::ssl::context& ctx, const std::string& ca_file);

// Prepares an ssl stream that is about to handshake with `host`: SNI (not for IP literals),
// peer verification and the host-name check. False when SNI could not be set.
template <class SslStream>
bool prepare_client_tls(SslStream& stream, const std::string& host, bool ip_literal) {
  if (!ip_literal && SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) != 1) return false;
  stream.set_verify_mode(boost::asio::ssl::verify_peer);
  stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
  return true;
}

}  // namespace signgate::http
