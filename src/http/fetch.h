// One HTTP/1.1 exchange over TCP or TLS, with the response body streamed to a callback.
// Used by `signgate sign --send`; the pooled upstream client builds on the same pieces.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "aws/sigv4.h"
#include "http/url.h"

namespace signgate::http {

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};  // per read or write
  std::string ca_file;  // empty: the system store (SSL_CERT_FILE / SSL_CERT_DIR honoured)
};

struct ResponseHead {
  unsigned status = 0;
  std::string reason;
  aws::HeaderList headers;
};

struct FetchResult {
  bool ok = false;
  std::string error;  // one line, when !ok
};

// Sends `req` (headers exactly as given, plus Content-Length when there is a body) to
// `url`'s host and port. TLS verifies the certificate chain and the host name, with SNI.
// `on_head` runs once the status line and headers are in; `on_body` for each piece.
FetchResult fetch(const Url& url, const aws::HttpRequest& req, std::string_view body,
                  const std::function<void(const ResponseHead&)>& on_head,
                  const std::function<void(std::string_view)>& on_body,
                  const FetchOptions& options = {});

}  // namespace signgate::http
