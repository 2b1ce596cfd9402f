// The Bedrock-native surface's paths: POST /model/{modelId}/{operation}. The model ID may
// arrive percent-encoded or not (an ARN may even bring raw '/'), so it is decoded for the
// policy check and encoded again, one segment, for the upstream. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "aws/bedrock_operation.h"

namespace signgate::gateway {

struct ModelCall {
  std::string model_id;  // decoded: "anthropic.claude-3-haiku-20240307-v1:0", an ARN with '/'
  aws::Operation operation;
};

// Parses "/model/{id}/{op}" (query ignored). nullopt when it is not that shape, the
// operation is not one of Bedrock runtime's five, or the decoded ID is not
// aws::valid_model_id (so never "." or ".."); `error` then says which.
std::optional<ModelCall> parse_model_path(std::string_view target, std::string* error);

// "/model/{encoded id}/{op}" as sent upstream: ':' and '/' in the ID percent-encoded, so
// the ID is one path segment (SigV4 then encodes it again, as Bedrock expects).
std::string upstream_path(std::string_view base_path, const ModelCall& call);

}  // namespace signgate::gateway
