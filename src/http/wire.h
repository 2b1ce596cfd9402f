// HTTP/1.1 heads written straight into one string: no field container, no generic serializer.
// The upstream request and the caller's answer each go out as this head and the body in one
// gathered write (one sendmsg); Beast still parses everything that comes in.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"

namespace signgate::http {

// A CR, LF or NUL: what would end a head line early (request smuggling, response splitting).
bool breaks_line(std::string_view s);

// "METHOD TARGET HTTP/1.1", `req`'s fields in order, then Content-Length: `content_length` when
// given, and the blank line. Appends to `out`. A line break in any part is refused with its
// reason (nothing is half-written that a caller would send).
std::optional<std::string> write_request_head(std::string& out, const Request& req,
                                              std::optional<std::size_t> content_length);

// How an answer's body is framed.
enum class Framing { kLength, kChunked };

// "HTTP/1.1 STATUS REASON", the handler's fields, the framing (Content-Length: `length`, or
// Transfer-Encoding: chunked; none for 1xx, 204 and 304, which have no body) and
// "Connection: close" unless `keep_alive`. Appends to `out`. The writer owns framing and the
// connection: a handler's own Content-Length, Transfer-Encoding or Connection is left out, and
// so is a field with a line break in it.
void write_response_head(std::string& out, unsigned status,
                         const std::vector<std::pair<std::string, std::string>>& headers, Framing framing,
                         std::size_t length, bool keep_alive);

// Whether a response with this status carries a body at all (RFC 9110 §6.4.1).
inline bool status_has_body(unsigned status) { return status >= 200 && status != 204 && status != 304; }

// The chunk-size line of a chunk of `size` bytes ("1a2\r\n") into `line`, which must hold 18
// bytes; returns its length.
std::size_t chunk_line(char* line, std::size_t size);

}  // namespace signgate::http
