// Percent-encoding (RFC 3986) with the unreserved set SigV4 uses. Pure.
#pragma once

#include <string>
#include <string_view>

namespace signgate {

// RFC 3986 encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX
// (upper-case hex). With `keep_slash`, '/' is kept (for paths).
void uri_encode(std::string_view in, std::string& out, bool keep_slash = false);
std::string uri_encode(std::string_view in, bool keep_slash = false);

// Decodes %XX escapes; a '%' not followed by two hex digits is kept as it is.
// '+' is kept too: SigV4 does not treat it as a space.
std::string uri_decode(std::string_view in);

}  // namespace signgate
