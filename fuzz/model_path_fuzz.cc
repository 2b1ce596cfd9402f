// Bedrock-native request targets of any shape. What parses must be a Bedrock model ID, go
// upstream without a dot or empty segment, and survive the round trip: the upstream path
// parses back to the same model ID and operation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "aws/model_id.h"
#include "aws/uri.h"
#include "gateway/bedrock_path.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto call = signgate::gateway::parse_model_path(target, &error);
  if (!call) return 0;
  if (!signgate::aws::valid_model_id(call->model_id)) std::abort();
  const std::string upstream = signgate::gateway::upstream_path("", *call);
  if (!signgate::aws::is_normal_path(upstream)) std::abort();
  std::string error2;
  auto again = signgate::gateway::parse_model_path(upstream, &error2);
  if (!again || again->model_id != call->model_id || again->operation != call->operation) std::abort();
  return 0;
}
