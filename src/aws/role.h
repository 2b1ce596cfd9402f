// Who signgate is towards AWS for one set of clients. Plain data: config, auth and the
// credential caches share it without pulling in the caches' event loop.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace signgate::aws {

// The base credentials themselves (role_arn empty) or a role assumed with them.
struct RoleSettings {
  std::string role_arn;
  std::string external_id;
  std::string session_name = "signgate";
  int duration_seconds = 3600;
  std::string source_identity;
  std::string policy;
  std::vector<std::pair<std::string, std::string>> tags;
  // Where AssumeRole is called, when not the one STS of aws: (a named identity's, SPEC §7):
  // the region it is signed for and, optionally, its endpoint.
  std::string sts_region;
  std::string sts_endpoint;

  // "ROLE as SESSION" or "base credentials": for logs, audit and errors; no secrets.
  std::string label() const;
  bool operator==(const RoleSettings&) const = default;
};

}  // namespace signgate::aws
