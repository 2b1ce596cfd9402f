// HTTPS_PROXY / NO_PROXY as curl and the AWS SDKs read them. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/result.h"
#include "http/url.h"

namespace signgate::http {

struct Proxy {
  Url url;                    // http://proxy.corp:3128 (the tunnel itself is plain TCP)
  std::string authorization;  // "Basic ..." when the proxy URL had user:password, else empty
};

struct ProxySettings {
  std::optional<Proxy> https;         // used for https:// targets, through CONNECT
  std::vector<std::string> no_proxy;  // lower-case host suffixes, "*" for all

  // HTTPS_PROXY (or https_proxy) and NO_PROXY (or no_proxy). Fails on a proxy URL we
  // cannot use, naming the variable.
  static Result<ProxySettings> from_environment(const Environment& env);

  // The proxy to tunnel through for `target`, or nullptr to connect directly. Plain http
  // targets (local endpoints, IMDS, ECS) always go direct.
  const Proxy* for_target(const Url& target) const;
};

// Parses "http://user:pass@host:port", "host:port" (http assumed).
Result<Proxy> parse_proxy(const std::string& text);

// Whether NO_PROXY's entries exempt `host`: exact match, domain suffix ("example.com"
// and ".example.com" both match "a.example.com"), or "*". Ports in entries are ignored.
bool no_proxy_matches(const std::vector<std::string>& entries, const std::string& host);

}  // namespace signgate::http
