// One dialect-free error value, rendered once per dialect: the status, headers and body a
// caller of that surface expects (OpenAI's {"error":{...}}, Anthropic's {"type":"error",...},
// Bedrock's {"message"} + x-amzn-ErrorType). Pure: no I/O.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace signgate::gateway {

using Headers = std::vector<std::pair<std::string, std::string>>;

enum class Dialect { kBedrock, kOpenAI, kAnthropic };

struct Refusal {
  Refusal(unsigned s, std::string m, std::string p = {}, std::string c = {}, std::string type = {},
          std::chrono::seconds retry = std::chrono::seconds(0), std::string d = {})
      : status(s),
        message(std::move(m)),
        param(std::move(p)),
        code(std::move(c)),
        bedrock_type(std::move(type)),
        retry_after(retry),
        detail(std::move(d)) {}

  unsigned status = 400;
  std::string message;       // for the caller: short, no ARNs, no upstream detail
  std::string param;         // OpenAI's `param` (the offending field), if any
  std::string code;          // OpenAI's `code`, if any
  std::string bedrock_type;  // x-amzn-ErrorType; empty: derived from the status
  std::chrono::seconds retry_after{0};
  std::string detail;  // for the audit log and the server log only; empty: message
  std::string allow;   // a 405's Allow header: the methods the path takes
};

struct Rendered {
  unsigned status;
  Headers headers;
  std::string body;
};

// The caller-facing answer for `r` in `dialect`; `request_id` goes in x-amzn-RequestId.
Rendered render(Dialect dialect, const Refusal& r, std::string_view request_id);

// An upstream that could not be reached or did not answer in time (504 for a timeout, else
// 502); the detail is logged and audited, not shown.
Refusal failure_refusal(const Error& failure, const std::string& request_id);

// Bedrock's exception name for a status signgate itself refuses with.
std::string_view bedrock_type_for(unsigned status);

}  // namespace signgate::gateway
