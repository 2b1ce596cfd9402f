// Any bytes through parse_json (simdjson, then nlohmann's DOM) and dump_json, against
// nlohmann's own parser and serializer: the same verdict, the same DOM, the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/json_depth.h"

namespace {

// Equal and of the same types all the way down (nlohmann's == takes 1, 1u and 1.0 as equal).
bool same(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto x = a.begin(), y = b.begin(); x != a.end(); ++x, ++y) {
      if (x.key() != y.key() || !same(x.value(), y.value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b || (a.is_number_float() && a.dump() == b.dump());  // NaN never comes from JSON
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr int kDepth = 64;
  bool too_deep = false;
  const nlohmann::json ours = signgate::api::parse_json(text, kDepth, &too_deep);
  if (too_deep) {
    if (!ours.is_discarded()) std::abort();
    return 0;
  }
  const nlohmann::json theirs = nlohmann::json::parse(text, nullptr, false);
  if (ours.is_discarded() != theirs.is_discarded()) std::abort();
  if (ours.is_discarded()) return 0;
  if (!same(ours, theirs)) std::abort();
  const std::string written = signgate::api::dump_json(ours);
  if (written != theirs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) std::abort();
  // What we write reads back as nlohmann reads it (equal to what was written; -0 comes back 0).
  if (!same(signgate::api::parse_json(written, kDepth), nlohmann::json::parse(written)) ||
      signgate::api::parse_json(written, kDepth) != ours) {
    std::abort();
  }
  return 0;
}
