// signgate's attribution inside AWS (SPEC §8): the client's name, the request's id and the
// client's configured pairs, stamped into Bedrock's per-request metadata of every call that
// records it, where the account's model invocation logs keep them.
#pragma once

#include <string_view>

#include "auth/clients.h"
#include "gateway/upstream.h"

namespace signgate::gateway {

// Stamps `call` for `client` and the audit line's `request_id`: the X-Amzn-Bedrock-Request-
// Metadata header of InvokeModel and its stream (merged with the caller's, which then is not
// sent twice), the requestMetadata of a Converse or ConverseStream body. Other operations,
// the control plane and Bedrock's OpenAI-compatible API (Mantle) take no metadata: unchanged.
void stamp_attribution(UpstreamCall& call, const auth::Client& client, std::string_view request_id);

}  // namespace signgate::gateway
