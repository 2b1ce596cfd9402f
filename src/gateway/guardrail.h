// A client's guardrail, forced onto every call it makes: Converse's body `guardrailConfig`,
// InvokeModel's X-Amzn-Bedrock-Guardrail* headers. Whatever the caller sent is replaced, so a
// client cannot call without its guardrail or with another one. Pure: no I/O.
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
