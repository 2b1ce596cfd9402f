#include "http/wire.h"

#include <charconv>

#include "common/strings.h"

namespace signgate::http {

namespace {

void append_number(std::string& out, std::size_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

// RFC 9110's reason phrases for the statuses a gateway answers with; others get none (the
// phrase is optional and clients ignore it).
std::string_view reason_of(unsigned status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 424: return "Failed Dependency";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

bool framing_field(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection");
}

}  // namespace

bool breaks_line(std::string_view s) {
  for (const char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

std::optional<std::string> write_request_head(std::string& out, const Request& req,
                                              std::optional<std::size_t> content_length) {
  if (breaks_line(req.method) || breaks_line(req.path) || breaks_line(req.query)) {
    return "refusing to send a request line with a line break in it";
  }
  const std::size_t start = out.size();
  out.append(req.method);
  out.push_back(' ');
  out.append(req.path);
  if (!req.query.empty()) {
    out.push_back('?');
    out.append(req.query);
  }
  out.append(" HTTP/1.1\r\n", 11);
  for (const auto& h : req.headers) {
    if (breaks_line(h.name) || breaks_line(h.value)) {
      out.resize(start);
      return "refusing to send header '" + h.name + "' with a line break in it";
    }
    append_field(out, h.name, h.value);
  }
  if (content_length) {
    out.append("Content-Length: ", 16);
    append_number(out, *content_length);
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
  return std::nullopt;
}

void write_response_head(std::string& out, unsigned status,
                         const std::vector<std::pair<std::string, std::string>>& headers, Framing framing,
                         std::size_t length, bool keep_alive) {
  out.append("HTTP/1.1 ", 9);
  append_number(out, status);
  out.push_back(' ');
  out.append(reason_of(status));
  out.append("\r\n", 2);
  for (const auto& [name, value] : headers) {
    if (framing_field(name) || breaks_line(name) || breaks_line(value) || name.empty()) continue;
    append_field(out, name, value);
  }
  if (status_has_body(status)) {
    if (framing == Framing::kChunked) {
      out.append("Transfer-Encoding: chunked\r\n", 28);
    } else {
      out.append("Content-Length: ", 16);
      append_number(out, length);
      out.append("\r\n", 2);
    }
  }
  if (!keep_alive) out.append("Connection: close\r\n", 19);
  out.append("\r\n", 2);
}

std::size_t chunk_line(char* line, std::size_t size) {
  const auto end = std::to_chars(line, line + 16, size, 16).ptr;
  end[0] = '\r';
  end[1] = '\n';
  return static_cast<std::size_t>(end + 2 - line);
}

}  // namespace signgate::http
