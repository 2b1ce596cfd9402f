// What gateway.cc and dialects.cc share: per-loop state, one call's record, and the results
// of the access check and the upstream call.
#pragma once

#include <chrono>
#include <optional>

#include "gateway/gateway.h"

namespace signgate::gateway {

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
  // The model becomes a metrics label only once the client's policy allowed it: nobody
  // chooses what /metrics keeps by sending model names.
  bool model_allowed = false;
};

struct Gateway::Access {
  std::shared_ptr<const aws::Credentials> credentials;  // set when allowed
  std::optional<Refusal> refusal;                        // set when not
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
// A failed upstream call (unreachable, timed out) as the caller sees it; the detail is logged.
Refusal upstream_refusal(const Gateway::Upstream& up, const Gateway::Call& call);

}  // namespace signgate::gateway
