// One HTTP/1.1 exchange on its own event loop, with the response body streamed to a
// callback: `signgate sign --send` and `doctor`. Built on the pooled client (client.h).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "http/client.h"
#include "http/message.h"
#include "http/url.h"

namespace signgate::http {

struct FetchResult {
  bool ok = false;
  std::string error;  // one line, when !ok
};

// Sends `req` (headers exactly as given, plus Content-Length when there is a body) to
// `url`'s host and port. TLS verifies the certificate chain and the host name, with SNI;
// HTTPS_PROXY is honoured through `options.proxy`. `on_head` runs once the status line and
// headers are in; `on_body` for each piece as it arrives.
FetchResult fetch(const Url& url, const http::Request& req, std::string_view body,
                  const std::function<void(const ResponseHead&)>& on_head,
                  const std::function<void(std::string_view)>& on_body, const ClientOptions& options = {});

}  // namespace signgate::http
