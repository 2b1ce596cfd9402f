#include "aws/bedrock_operation.h"

namespace signgate::aws {

namespace {

struct OperationNames {
  Operation op;
  std::string_view name;
  std::string_view path;  // empty: not a /model/{id}/... operation
};
constexpr OperationNames kOperations[] = {{Operation::kInvoke, "invoke", "invoke"},
                                          {Operation::kInvokeStream, "invoke-stream", "invoke-with-response-stream"},
                                          {Operation::kConverse, "converse", "converse"},
                                          {Operation::kConverseStream, "converse-stream", "converse-stream"},
                                          {Operation::kCountTokens, "count-tokens", "count-tokens"},
                                          {Operation::kApplyGuardrail, "apply-guardrail", ""},
                                          {Operation::kAsyncInvoke, "async-invoke", ""},
                                          {Operation::kDiscovery, "discovery", ""}};

}  // namespace

std::string_view operation_name(Operation op) {
  for (const auto& o : kOperations) {
    if (o.op == op) return o.name;
  }
  return "?";
}

std::optional<Operation> operation_from_name(std::string_view name) {
  for (const auto& o : kOperations) {
    if (o.name == name) return o.op;
  }
  return std::nullopt;
}

std::optional<Operation> operation_from_path(std::string_view suffix) {
  if (suffix.empty()) return std::nullopt;
  for (const auto& o : kOperations) {
    if (o.path == suffix) return o.op;
  }
  return std::nullopt;
}

std::string_view operation_path(Operation op) {
  for (const auto& o : kOperations) {
    if (o.op == op) return o.path.empty() ? "?" : o.path;
  }
  return "?";
}

bool is_streaming(Operation op) { return op == Operation::kInvokeStream || op == Operation::kConverseStream; }

}  // namespace signgate::aws
