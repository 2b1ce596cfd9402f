// A client's guardrail, forced onto every call it makes: Converse's body `guardrailConfig`,
// InvokeModel's X-Amzn-Bedrock-Guardrail* headers. Whatever the caller sent is replaced, and
// what would narrow the guardrail to text the caller picks (Converse's guardContent blocks,
// InvokeModel's amazon-bedrock-guardrailConfig tag suffix) or let a stream run ahead of it
// (streamProcessingMode: async) is taken out. Pure: no I/O.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "gateway/upstream.h"

namespace signgate::gateway {

// Puts `g` on `call` as its operation takes it. Returns an error (for a 400) when the call's
// body is not the JSON object Converse needs; operations that take no guardrail are left alone.
std::optional<std::string> enforce_guardrail(UpstreamCall& call, const config::GuardrailConfig& g, int max_depth);

}  // namespace signgate::gateway
