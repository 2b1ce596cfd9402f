// identities: and routes: (SPEC §7) as plain, validated data: where a client's call for a model
// may go when one account, region or model is throttled. Read by routes.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/role.h"

namespace signgate::config {

// The upstream failures a route fails over on, as a bit set (SPEC §7's settled kinds).
enum FailKind : unsigned {
  kThrottled = 1u << 0,    // ThrottlingException, ServiceQuotaExceededException, a 429
  kUnavailable = 1u << 1,  // ServiceUnavailable, ModelNotReady, InternalServer, no connection
  kTimeout = 1u << 2,      // the first-byte timeout, ModelTimeoutException
  kServerError = 1u << 3,  // any other 5xx
  kModelError = 1u << 4,   // ModelErrorException (424)
  kDenied = 1u << 5,       // the target's own AccessDenied (403) or ResourceNotFound (404)
};
inline constexpr unsigned kDefaultFailOver = kThrottled | kUnavailable | kTimeout;
inline constexpr FailKind kAllFailKinds[] = {kThrottled, kUnavailable, kTimeout, kServerError, kModelError, kDenied};

// "throttled", "unavailable", ... as the config and /metrics name a kind.
std::string_view fail_kind_name(FailKind k);
std::optional<FailKind> fail_kind_from_name(std::string_view name);

// A named upstream identity: a role assumed with the base credentials, in its own region.
struct IdentityConfig {
  std::string name;
  aws::RoleSettings role;
  std::string region;        // where its targets sign by default
  std::string sts_endpoint;  // empty: https://sts.{region}.amazonaws.com
  bool operator==(const IdentityConfig&) const = default;
};

// One place a routed call may go: an identity's role, a region, and the model as sent.
struct TargetConfig {
  std::string name;                  // "identity/region[/model]" unless the config names it
  std::string identity = "default";  // default: the calling client's own identity
  std::string region;                // filled: the identity's region, or aws.region
  std::string model;                 // empty: the model as the caller asked
  std::uint32_t weight = 1;
  std::string bedrock_endpoint;  // empty: aws.bedrock_endpoint in aws.region, else the regional URL
  bool operator==(const TargetConfig&) const = default;
};

enum class Strategy { kPriority, kWeighted };
enum class Sticky { kNone, kClient, kPrefix };

struct RouteConfig {
  std::string name;                // the first match entry unless the config names it
  std::vector<std::string> match;  // aliases from models: or Bedrock-ID globs
  Strategy strategy = Strategy::kPriority;
  Sticky sticky = Sticky::kNone;
  std::vector<TargetConfig> targets;
  unsigned fail_over_on = kDefaultFailOver;
  int eject_after = 3;  // consecutive failures
  std::chrono::seconds eject_for{30};
  std::chrono::milliseconds deadline{120'000};  // every attempt of one call, until one answers
  bool operator==(const RouteConfig&) const = default;
};

}  // namespace signgate::config
