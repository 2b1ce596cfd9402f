#include "aws/uri.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace signgate::aws {
namespace {}  // namespace

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

void append_canonical_uri(std::string& out, std::string_view wire_path, bool normalize, bool double_encode) {
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
      const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
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
