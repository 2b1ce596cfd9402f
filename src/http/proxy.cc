#include "http/proxy.h"

#include "common/base64.h"
#include "common/percent.h"
#include "common/strings.h"

namespace signgate::http {

Result<Proxy> parse_proxy(const std::string& text) {
  std::string s = text;
  if (s.find("://") == std::string::npos) s = "http://" + s;
  const std::size_t scheme_end = s.find("://") + 3;
  const std::size_t auth_end = std::min(s.find_first_of("/?#", scheme_end), s.size());
  const std::size_t at = s.rfind('@', auth_end);
  Proxy proxy;
  if (at != std::string::npos && at >= scheme_end) {
    const std::string userinfo = uri_decode(s.substr(scheme_end, at - scheme_end));
    proxy.authorization = "Basic " + base64_encode(userinfo);
    s.erase(scheme_end, at + 1 - scheme_end);
  }
  std::string error;
  auto url = parse_url(s, &error);
  if (!url) return make_error(error);
  if (url->is_tls()) {
    return make_error("an https:// proxy is not supported; use http://" + url->host_header() +
                      " (the tunnel to AWS is TLS end to end anyway)");
  }
  if (!url->explicit_port) url->port = 80;
  proxy.url = std::move(*url);
  return proxy;
}

Result<ProxySettings> ProxySettings::from_environment(const Environment& env) {
  ProxySettings settings;
  for (const char* name : {"HTTPS_PROXY", "https_proxy"}) {
    if (auto v = env_value(env, name)) {
      auto proxy = parse_proxy(*v);
      if (!proxy) return make_error(std::string(name) + ": " + proxy.message());
      settings.https = std::move(*proxy);
      break;
    }
  }
  for (const char* name : {"NO_PROXY", "no_proxy"}) {
    if (auto v = env_value(env, name)) {
      std::size_t start = 0;
      while (start <= v->size()) {
        std::size_t end = v->find(',', start);
        if (end == std::string::npos) end = v->size();
        std::string entry = v->substr(start, end - start);
        const auto first = entry.find_first_not_of(" \t");
        const auto last = entry.find_last_not_of(" \t");
        entry = first == std::string::npos ? "" : entry.substr(first, last - first + 1);
        if (!entry.empty() && entry.front() != '[') {  // "host:port" → host
          if (const auto colon = entry.rfind(':'); colon != std::string::npos && entry.find(':') == colon) {
            entry.resize(colon);
          }
        }
        if (!entry.empty()) settings.no_proxy.push_back(to_lower(entry));
        start = end + 1;
      }
      break;
    }
  }
  return settings;
}

bool no_proxy_matches(const std::vector<std::string>& entries, const std::string& host) {
  const std::string h = to_lower(host);
  for (std::string e : entries) {
    if (e == "*") return true;
    if (!e.empty() && e.front() == '.') e.erase(0, 1);
    if (e.size() >= 2 && e.front() == '[' && e.back() == ']') e = e.substr(1, e.size() - 2);
    if (h == e) return true;
    if (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 && h[h.size() - e.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

const Proxy* ProxySettings::for_target(const Url& target) const {
  if (!target.is_tls() || !https) return nullptr;
  if (no_proxy_matches(no_proxy, target.host)) return nullptr;
  return &*https;
}

}  // namespace signgate::http
