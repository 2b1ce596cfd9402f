#include "gateway/refusal.h"

#include <spdlog/spdlog.h>

#include "api/anthropic/messages.h"
#include "api/json_depth.h"
#include "api/json_scan.h"
#include "api/openai/chat.h"

namespace signgate::gateway {

namespace {

std::string openai_type_for(unsigned status) {
  switch (status) {
    case 400:
    case 405:
    case 408:
    case 413:
    case 431: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return "api_error";
  }
}

}  // namespace

std::string_view bedrock_type_for(unsigned status) {
  switch (status) {
    case 401: return "UnauthorizedException";
    case 403: return "AccessDeniedException";
    case 404: return "ResourceNotFoundException";
    case 405:
    case 400:
    case 413:
    case 431: return "ValidationException";
    case 408: return "RequestTimeoutException";
    case 429: return "ThrottlingException";
    case 504: return "ModelTimeoutException";
    case 500: return "InternalServerException";
    default: return "ServiceUnavailableException";
  }
}

Rendered render(Dialect dialect, const Refusal& r, std::string_view request_id) {
  Rendered out{r.status, {{"Content-Type", "application/json"}}, {}};
  std::chrono::seconds retry = r.retry_after;
  // SDKs honour Retry-After: tell them when to come back instead of leaving them to guess.
  if (retry.count() <= 0 && (r.status == 429 || r.status == 503)) retry = std::chrono::seconds(1);
  if (retry.count() > 0) out.headers.push_back({"Retry-After", std::to_string(retry.count())});
  if (!r.allow.empty()) out.headers.push_back({"Allow", r.allow});
  switch (dialect) {
    case Dialect::kBedrock:
      out.headers.push_back(
          {"x-amzn-ErrorType", r.bedrock_type.empty() ? std::string(bedrock_type_for(r.status)) : r.bedrock_type});
      out.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
      out.body = "{\"message\":";
      api::append_json_string_checked(out.body, r.message);
      out.body.push_back('}');
      break;
    case Dialect::kOpenAI:
      out.body =
          api::dump_json(api::openai::error_body({r.status, openai_type_for(r.status), r.message, r.param, r.code}));
      break;
    case Dialect::kAnthropic:
      out.body =
          api::dump_json(api::anthropic::error_body({r.status, api::anthropic::error_type_for(r.status), r.message}));
      break;
  }
  out.body.push_back('\n');  // a JSON body of signgate's own ends its line, as curl users expect
  return out;
}

Refusal failure_refusal(const Error& failure, const std::string& request_id) {
  spdlog::warn("request {}: {}", request_id, failure.message);
  const bool timeout = failure.kind == ErrorKind::kTimeout;
  std::string message = timeout ? "Bedrock did not answer in time" : "Bedrock could not be reached";
  message += " (request " + request_id + ")";
  return Refusal{timeout ? 504u : 502u,
                 std::move(message),
                 "",
                 timeout ? "timeout" : "",
                 timeout ? "ModelTimeoutException" : "ServiceUnavailableException",
                 {},
                 failure.message};
}

}  // namespace signgate::gateway
