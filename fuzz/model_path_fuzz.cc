// Bedrock-native request targets of any shape. What parses must survive the round trip:
// the upstream path parses back to the same model ID and operation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/bedrock_path.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto call = signgate::gateway::parse_model_path(target, &error);
  if (!call) return 0;
  const std::string upstream = signgate::gateway::upstream_path("", *call);
  std::string error2;
  auto again = signgate::gateway::parse_model_path(upstream, &error2);
  if (!again || again->model_id != call->model_id || again->operation != call->operation) std::abort();
  return 0;
}
