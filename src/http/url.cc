#include "http/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace signgate::http {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

bool valid_host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'; }

}  // namespace

bool Url::is_ip_literal() const {
  if (host.find(':') != std::string::npos) return true;
  return !host.empty() &&
         std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// Exact, not a prefix: "127.evil.example" is a name anyone can point anywhere.
bool Url::is_loopback() const {
  if (host == "localhost") return true;
  unsigned char v4[4];
  // inet_pton takes only four decimal octets 0-255 (no "127.1", octal or trailing text).
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::string Url::host_header() const {
  // Appended piece by piece: GCC 12 raises a false -Wrestrict on "[" + host + "]".
  std::string h;
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) h.push_back('[');
  h.append(host);
  if (v6) h.push_back(']');
  const std::uint16_t default_port = is_tls() ? 443 : 80;
  if (explicit_port && port != default_port) {
    h.push_back(':');
    h.append(std::to_string(port));
  }
  return h;
}

std::optional<Url> parse_url(std::string_view text, std::string* error) {
  Url url;
  auto bad = [&](std::string message) -> std::optional<Url> {
    fail(error, "bad URL '" + std::string(text) + "': " + std::move(message));
    return std::nullopt;
  };
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return bad("it contains a space or control character (percent-encode it, e.g. %20)");
    }
  }
  const std::size_t colon = text.find("://");
  if (colon == std::string_view::npos) return bad("expected http:// or https://");
  url.scheme = lower(text.substr(0, colon));
  if (url.scheme != "http" && url.scheme != "https") {
    return bad("scheme must be http or https");
  }
  std::string_view rest = text.substr(colon + 3);
  const std::size_t auth_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, auth_end);
  rest.remove_prefix(auth_end);
  if (authority.find('@') != std::string_view::npos) {
    return bad("user information in the URL is not allowed (credentials go in flags)");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    url.host = lower(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after the IPv6 literal");
      port_text = after.substr(1);
      url.explicit_port = true;
    }
    if (url.host.empty() || url.host.find_first_not_of("0123456789abcdef:.") != std::string::npos) {
      return bad("malformed IPv6 literal");
    }
  } else {
    const std::size_t pc = authority.rfind(':');
    if (pc != std::string_view::npos) {
      port_text = authority.substr(pc + 1);
      authority = authority.substr(0, pc);
      url.explicit_port = true;
    }
    url.host = lower(authority);
    if (url.host.empty()) return bad("missing host");
    if (!std::all_of(url.host.begin(), url.host.end(), valid_host_char)) {
      return bad("invalid character in host");
    }
  }
  url.port = url.is_tls() ? 443 : 80;
  if (url.explicit_port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port_text.empty() || value == 0 ||
        value > 65535) {
      return bad("port must be a number from 1 to 65535");
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  const std::size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  const std::size_t q = rest.find('?');
  url.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) url.query = std::string(rest.substr(q + 1));
  if (url.path.empty()) url.path.push_back('/');
  return url;
}

}  // namespace signgate::http
