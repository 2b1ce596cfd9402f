// Plain data for an HTTP request as it goes on the wire: a header list and the request line's
// parts. No Boost: the signer, the client and the gateway share these without depending on
// each other.
#pragma once

#include <string>
#include <vector>

namespace signgate::http {

struct Header {
  std::string name;
  std::string value;
};
using HeaderList = std::vector<Header>;

// A request as it goes on the wire: path and query exactly as sent.
struct Request {
  std::string method;
  std::string path;   // "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
  std::string query;  // without the '?'
  HeaderList headers; // Host included
};

}  // namespace signgate::http
