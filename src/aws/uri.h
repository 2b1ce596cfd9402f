// The URI rules of SigV4's canonical request: encoding, path normalisation, query order.
#pragma once

#include <string>
#include <string_view>

#include "common/percent.h"

namespace signgate::aws {

// Percent-encoding lives in common (the HTTP layer needs it too).
using signgate::uri_decode;
using signgate::uri_encode;

// RFC 3986 §5.2.4 dot-segment removal plus the collapse of empty segments that AWS
// services apply: "//example//" -> "/example/", "/a/b/../.." -> "/". A trailing slash stays.
std::string normalize_path(std::string_view path);

// The canonical URI from the path as it goes on the wire. Non-S3 services encode each
// segment again: "%3A" on the wire is "%253A" here (`double_encode`). S3 signs the wire
// path as it is and without normalisation.
std::string canonical_uri(std::string_view wire_path, bool normalize, bool double_encode);
// The same, appended to `out`.
void append_canonical_uri(std::string& out, std::string_view wire_path, bool normalize, bool double_encode);

// True when normalize_path would change nothing (no empty, "." or ".." segment).
bool is_normal_path(std::string_view path);

// The canonical query string from the query as it goes on the wire (without '?'):
// each name and value decoded, encoded again strictly, and the pairs sorted by name,
// then value. "b=2&a=1&a" -> "a=&a=1&b=2".
std::string canonical_query(std::string_view wire_query);

}  // namespace signgate::aws
