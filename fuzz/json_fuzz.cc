// Any bytes through parse_json (simdjson, then nlohmann's DOM) and dump_json, against
// nlohmann's own parser and serializer: the same verdict, the same DOM, the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/json_depth.h"

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
  if (ours != theirs) std::abort();
  const std::string written = signgate::api::dump_json(ours);
  if (written != theirs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) std::abort();
  // What we write reads back to the same document.
  if (signgate::api::parse_json(written, kDepth) != ours) std::abort();
  return 0;
}
