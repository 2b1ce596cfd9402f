// Any bytes as a caller's X-Amzn-Bedrock-Request-Metadata value and as a Converse body, against
// nlohmann's parser: the header sent is always a JSON object of at most 16 pairs Bedrock accepts
// with signgate's own values; a body that is a JSON object is always stamped, changed in nothing
// but its requestMetadata; a body that is not read is left untouched.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/json_depth.h"
#include "api/request_metadata.h"

namespace {

namespace aws = signgate::aws;
using Pairs = std::vector<std::pair<std::string, std::string>>;

const Pairs kPairs = {{"team", "search|x"}, {"cost_center", "cc 42"}};
const signgate::api::MetadataStamp kStamp{"client é\"name", "0123456789abcdef0123456789abcdef", kPairs};

// `m` is metadata Bedrock accepts and carries signgate's own values.
void check_metadata(const nlohmann::json& m) {
  if (!m.is_object() || m.size() > signgate::api::kMaxRequestMetadataPairs) std::abort();
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string() || !aws::valid_request_metadata_text(k, true) ||
        !aws::valid_request_metadata_text(v.get<std::string>(), false)) {
      std::abort();
    }
  }
  if (m.value("signgate_client", "") != "client __name" ||
      m.value("signgate_request_id", "") != "0123456789abcdef0123456789abcdef" || m.value("team", "") != "search_x" ||
      m.value("cost_center", "") != "cc 42") {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // nlohmann's parser recurses: the oracle only reads what nests shallowly.
  const bool shallow = signgate::api::within_depth(text, 64);
  const nlohmann::json input = shallow ? nlohmann::json::parse(text, nullptr, false) : nlohmann::json();

  const std::string header = signgate::api::stamp_metadata_header(kStamp, text);
  const nlohmann::json sent = nlohmann::json::parse(header, nullptr, false);
  check_metadata(sent);
  for (const auto& [k, v] : sent.items()) {
    if (k.starts_with("signgate_") || k == "team" || k == "cost_center") continue;
    // A caller pair sent was the caller's: a string under that key of a JSON object.
    if (shallow && (!input.is_object() || !input.contains(k))) std::abort();
  }

  std::string body(text);
  if (!signgate::api::stamp_converse_body(body, kStamp)) {
    if (body != text) std::abort();
    if (input.is_object()) std::abort();  // every JSON object is read
    return 0;
  }
  if (!shallow || !input.is_object()) return 0;
  nlohmann::json stamped = nlohmann::json::parse(body, nullptr, false);
  if (!stamped.is_object() || !stamped.contains("requestMetadata")) std::abort();
  check_metadata(stamped["requestMetadata"]);
  nlohmann::json before = input;
  before.erase("requestMetadata");
  stamped.erase("requestMetadata");
  if (before != stamped) std::abort();
  return 0;
}
