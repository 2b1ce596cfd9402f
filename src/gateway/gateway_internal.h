// What gateway.cc and dialects.cc share: per-loop state, one call's record, and the results
// of the access check and the upstream call.
#pragma once

#include <chrono>
#include <optional>

#include "gateway/gateway.h"

namespace signgate::gateway {

using Headers = std::vector<std::pair<std::string, std::string>>;
using SteadyClock = std::chrono::steady_clock;

struct Gateway::Loop {
  std::unique_ptr<http::Client> client;
  aws::Signer signer;
};

// Everything one request leaves in the audit log and the metrics.
struct Gateway::Call {
  SteadyClock::time_point start = SteadyClock::now();
  AuditRecord audit;
  std::optional<SteadyClock::time_point> first_byte;
};

struct Gateway::Access {
  const auth::Client* client = nullptr;
  std::shared_ptr<const aws::Credentials> credentials;
  unsigned status = 0;  // 0: allowed; else 401, 403, 429 or 503
  std::string message;
  std::chrono::seconds retry_after{0};
};

struct Gateway::Upstream {
  std::optional<http::Response> response;  // set when Bedrock answered (any status)
  unsigned status = 0;                     // else 502 or 504
  std::string message;
};

// Headers built outside co_await expressions: GCC 12 miscompiles braced lists of string
// literals there.
inline Headers content_type(std::string type) { return Headers{{"Content-Type", std::move(type)}}; }

std::string new_request_id();
std::string role_session(const aws::RoleSettings& role);
std::optional<std::uint64_t> to_count(std::string_view text);

}  // namespace signgate::gateway
