// The bedrock-runtime operations a client may be allowed, by the names the config uses
// ("invoke", "converse-stream", ...) and, for those on /model/{id}/..., the path suffix
// Bedrock gives them. Pure: no I/O.
#pragma once

#include <optional>
#include <string_view>

namespace signgate::aws {

enum class Operation {
  kInvoke,          // InvokeModel
  kInvokeStream,    // InvokeModelWithResponseStream
  kConverse,        // Converse
  kConverseStream,  // ConverseStream
  kCountTokens,     // CountTokens
  kApplyGuardrail,  // ApplyGuardrail
  kAsyncInvoke,     // StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes
  kDiscovery,       // ListFoundationModels, GetFoundationModel, ListInferenceProfiles, GetInferenceProfile
};

// Every operation, in the config's order.
inline constexpr Operation kAllOperations[] = {
    Operation::kInvoke,      Operation::kInvokeStream,   Operation::kConverse,    Operation::kConverseStream,
    Operation::kCountTokens, Operation::kApplyGuardrail, Operation::kAsyncInvoke, Operation::kDiscovery};

// "invoke", "invoke-stream", "converse", "converse-stream", "count-tokens", "apply-guardrail",
// "async-invoke", "discovery".
std::string_view operation_name(Operation op);
// The operation a config name stands for.
std::optional<Operation> operation_from_name(std::string_view name);
// The operation a /model/{id}/{suffix} path names ("invoke-with-response-stream" →
// kInvokeStream); only the five model operations have one.
std::optional<Operation> operation_from_path(std::string_view suffix);
// The path suffix of a model operation ("?" for the others).
std::string_view operation_path(Operation op);
// Whether the answer is an event stream.
bool is_streaming(Operation op);

}  // namespace signgate::aws
