#include "common/percent.h"

namespace signgate {
namespace {

constexpr bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void uri_encode(std::string_view in, std::string& out, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.reserve(out.size() + in.size() + 16);
  std::size_t i = 0;
  while (i < in.size()) {
    std::size_t j = i;
    while (j < in.size() && (is_unreserved(static_cast<unsigned char>(in[j])) || (keep_slash && in[j] == '/'))) ++j;
    out.append(in.data() + i, j - i);  // runs of safe bytes go in whole
    if (j == in.size()) break;
    const auto c = static_cast<unsigned char>(in[j]);
    const char escaped[3] = {'%', kHex[c >> 4], kHex[c & 0x0f]};
    out.append(escaped, 3);
    i = j + 1;
  }
}

std::string uri_encode(std::string_view in, bool keep_slash) {
  std::string out;
  uri_encode(in, out, keep_slash);
  return out;
}

std::string uri_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

}  // namespace signgate
