// Absolute http(s) URLs split without normalising anything: path and query stay
// exactly as given, because that is what is sent and what SigV4 derives from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace signgate::http {

struct Url {
  std::string scheme;  // "https" or "http", lower-case
  std::string host;    // IPv6 literals without brackets
  std::uint16_t port = 0;
  bool explicit_port = false;
  std::string path;   // "/" when the URL has none
  std::string query;  // without '?'; the fragment is dropped

  bool is_tls() const { return scheme == "https"; }
  bool is_ip_literal() const;
  // Exactly "localhost", an IPv4 literal in 127.0.0.0/8 or the IPv6 loopback (::1 in any spelling).
  bool is_loopback() const;
  // The Host header: host, with the port only when it is not the scheme's default.
  std::string host_header() const;
  // Path and query as they go in the request line.
  std::string target() const { return query.empty() ? path : path + "?" + query; }
};

// Returns the URL or, in `error`, why it is not one we can send to.
std::optional<Url> parse_url(std::string_view text, std::string* error);

}  // namespace signgate::http
