#include "aws/uri.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace signgate::aws {
namespace {

constexpr bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
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

std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> kept;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const std::size_t slash = std::min(path.find('/', pos), path.size());
    const std::string_view seg = path.substr(pos, slash - pos);
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!seg.empty() && seg != ".") {
      kept.push_back(seg);
    }
    pos = slash + 1;
  }
  std::string out;
  out.reserve(path.size() + 1);
  for (std::string_view seg : kept) {
    out.push_back('/');
    out.append(seg);
  }
  const bool trailing = !path.empty() && path.back() == '/';
  if (out.empty() || trailing) out.push_back('/');
  return out;
}

bool is_normal_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  std::size_t seg_start = 1;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::string_view seg = path.substr(seg_start, i - seg_start);
      const bool last = i == path.size();
      if ((seg.empty() && !last) || seg == "." || seg == "..") return false;
      seg_start = i + 1;
    }
  }
  return true;
}

void append_canonical_uri(std::string& out, std::string_view wire_path, bool normalize,
                          bool double_encode) {
  if (wire_path.empty()) {
    out.push_back('/');
    return;
  }
  std::string normalized;
  std::string_view path = wire_path;
  if (normalize && !is_normal_path(wire_path)) {
    normalized = normalize_path(wire_path);
    path = normalized;
  }
  if (double_encode) {
    uri_encode(path, out, /*keep_slash=*/true);
  } else {
    out.append(path);
  }
}

std::string canonical_uri(std::string_view wire_path, bool normalize, bool double_encode) {
  std::string out;
  append_canonical_uri(out, wire_path, normalize, double_encode);
  return out;
}

std::string canonical_query(std::string_view wire_query) {
  if (wire_query.empty()) return {};
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t pos = 0;
  while (pos <= wire_query.size()) {
    const std::size_t amp = std::min(wire_query.find('&', pos), wire_query.size());
    const std::string_view pair = wire_query.substr(pos, amp - pos);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      const std::string_view name = pair.substr(0, eq);
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
      params.emplace_back(uri_encode(uri_decode(name)), uri_encode(uri_decode(value)));
    }
    pos = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out.append(name);
    out.push_back('=');
    out.append(value);
  }
  return out;
}

}  // namespace signgate::aws
