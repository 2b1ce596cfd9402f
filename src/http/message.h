// Plain data for an HTTP request as it goes on the wire: a header list and the request line's
// parts. No Boost: the signer, the client and the gateway share these without depending on
// each other.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"

namespace signgate::http {

struct Header {
  std::string name;
  std::string value;
};
using HeaderList = std::vector<Header>;

// A request as it goes on the wire: path and query exactly as sent.
struct Request {
  std::string method;
  std::string path;    // "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
  std::string query;   // without the '?'
  HeaderList headers;  // Host included
};

// A response's status line and fields, as they arrived.
struct ResponseHead {
  unsigned status = 0;
  std::string reason;
  HeaderList headers;

  // The first header of that name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const {
    for (const auto& h : headers) {
      if (iequals(h.name, name)) return h.value;
    }
    return {};
  }
};

}  // namespace signgate::http
