// The route table: which method and path reach which surface. The 404 text and the 405's
// Allow header are built from the same table, so they never disagree with it.
#pragma once

#include <boost/beast/http/verb.hpp>

#include <string>
#include <string_view>

#include "gateway/refusal.h"
#include "gateway/surface.h"

namespace signgate::gateway {

// Answered by the gateway itself, with no key: liveness, readiness, metrics.
enum class OpsEndpoint { kNone, kHealthz, kReadyz, kMetrics };

struct Route {
  boost::beast::http::verb method;
  std::string_view path;        // exact, or every path under it when it ends with '/'
  const Surface& (*surface)();  // null for an ops endpoint
  OpsEndpoint ops = OpsEndpoint::kNone;
  std::string_view shown;  // how the 404 names it
};

struct Routed {
  const Route* route = nullptr;         // the match; null with a refusal
  std::optional<Refusal> refusal;       // 404: no such path; 405: the path, another method
  Dialect dialect = Dialect::kBedrock;  // of the refusal: the path's
};

// Finds the route for `method` and `path` (no query). Ops endpoints only when `with_ops`.
Routed route(boost::beast::http::verb method, std::string_view path, bool with_ops);

}  // namespace signgate::gateway
