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
// False when a Converse body is not a UTF-8 JSON object the stamp can be written into: such a
// body must not reach Bedrock (a UTF-16 body would carry the caller's own signgate_client).
bool stamp_attribution(UpstreamCall& call, const auth::Client& client, std::string_view request_id);

}  // namespace signgate::gateway
