// signgate's attribution in Bedrock's per-request metadata, which Bedrock records in the
// account's model invocation logs: the X-Amzn-Bedrock-Request-Metadata header of InvokeModel
// and its stream (a JSON object), the top-level requestMetadata of Converse and ConverseStream
// bodies. signgate's own pairs always win; the caller's other pairs are kept while they fit
// Bedrock's limits and dropped, never the request, when they do not. Pure: no I/O, no
// recursion (JSON of any depth is skipped with a counter), linear in its input.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "aws/request_metadata.h"

namespace signgate::api {

using aws::kMaxRequestMetadataPairs;
using aws::kMaxRequestMetadataText;
using aws::kRequestMetadataHeader;
using aws::kStampClientKey;
using aws::kStampRequestKey;

// `text` made a valid metadata value: each character Bedrock refuses (a whole UTF-8 sequence
// counts as one) becomes '_', and the result is cut to 256 characters.
std::string metadata_value(std::string_view text);

// What signgate stamps: the client's name, the audit line's request id and the client's
// configured pairs, none of which a caller can override. The views must outlive the calls below.
struct MetadataStamp {
  std::string_view client;
  std::string_view request_id;
  std::span<const std::pair<std::string, std::string>> pairs;
};

// The X-Amzn-Bedrock-Request-Metadata value to send: the stamp, merged with the pairs of
// `caller` (the caller's own header value; empty when it sent none). A caller value that is
// not a JSON object of its own yields the stamp alone; the caller's pairs with one of the
// stamp's keys, an invalid key or value, a value that is not a string, a key seen before, or
// beyond 16 pairs in all are dropped.
std::string stamp_metadata_header(const MetadataStamp& stamp, std::string_view caller = {});

// Writes the stamp into a Converse body's top-level requestMetadata, merged with the pairs the
// caller put there (kept and dropped as above; a requestMetadata that is not an object counts as
// none). Only that member changes: inserted first in the object when the body had none,
// replaced in place when it had one, the extra ones removed when it had several. Whatever
// follows the top-level object is left as it is. False, and `body` untouched, when `body` does
// not begin with a JSON object this can read.
bool stamp_converse_body(std::string& body, const MetadataStamp& stamp);

}  // namespace signgate::api
