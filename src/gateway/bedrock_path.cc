#include "gateway/bedrock_path.h"

#include "aws/model_id.h"
#include "aws/uri.h"

namespace signgate::gateway {

std::optional<ModelCall> parse_model_path(std::string_view target, std::string* error) {
  const auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  constexpr std::string_view kPrefix = "/model/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    *error = "unknown path";
    return std::nullopt;
  }
  path.remove_prefix(kPrefix.size());
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) {
    *error = "expected /model/{modelId}/{operation}";
    return std::nullopt;
  }
  const auto op = aws::operation_from_path(path.substr(slash + 1));
  if (!op) {
    *error = "unknown operation '" + std::string(path.substr(slash + 1)) +
             "' (invoke, invoke-with-response-stream, converse, converse-stream, count-tokens)";
    return std::nullopt;
  }
  std::string model = aws::uri_decode(path.substr(0, slash));
  // Checked decoded: "%2e%2e" must not become a dot segment upstream.
  if (!aws::valid_model_id(model)) {
    *error = "not a Bedrock model ID (a model ID, inference profile ID or model ARN)";
    return std::nullopt;
  }
  return ModelCall{std::move(model), *op};
}

std::string upstream_path(std::string_view base_path, const ModelCall& call) {
  std::string path(base_path == "/" ? std::string_view() : base_path);
  path += "/model/";
  aws::uri_encode(call.model_id, path);
  path.push_back('/');
  path += aws::operation_path(call.operation);
  return path;
}

}  // namespace signgate::gateway
