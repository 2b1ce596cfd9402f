// The one place the steps of a request are written, for every surface alike:
//   1. plan_head   the surface reads the path and headers: operation, model (if in the path)
//   2. authenticate the key from the head → client, or 401; no body byte read yet
//   3. read body   only now, up to the limit; 100 Continue only now
//   4. plan        the surface parses the body → an upstream call, a local answer, or 400
//   5. authorize   allowlist, operation, identity, then what the client may spend (requests and
//                  tokens a minute, tokens a day) → credentials, or 403/503/429
//   6. send        the upstream → its answer, or 502/504
//   7. answer      the surface relays it (streamed at the caller's pace); errors become refusals
//   8. finish      exactly one audit line and one metrics update, whatever happened
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <memory>

#include "gateway/audit.h"
#include "gateway/exchange.h"
#include "gateway/limits.h"
#include "gateway/memory.h"
#include "gateway/metrics.h"
#include "gateway/revocations.h"
#include "gateway/route_state.h"
#include "gateway/surface.h"
#include "gateway/upstream.h"
#include "http/server.h"

namespace signgate::gateway {

class Pipeline {
 public:
  Pipeline(AuditLog& audit, Metrics& metrics) : audit_(audit), metrics_(metrics) {}

  // What one loop serves with: its upstream, what clients spend (`limits`) and what the gateway
  // remembers (`memory`).
  struct LoopParts {
    Upstream& upstream;
    Limits& limits;
    Memory& memory;
  };

  // Serves one request for `surface` against the runtime `rt` with the loop's `parts`.
  boost::asio::awaitable<void> run(const Surface& surface, std::shared_ptr<const Runtime> rt,
                                   const http::RequestHead& head, http::BodyReader& body, http::Responder& res,
                                   LoopParts parts);

  // Answers a request no surface took (404, 405) in `dialect`, with its audit line.
  boost::asio::awaitable<void> refuse_unrouted(Dialect dialect, Refusal r, const http::RequestHead& head,
                                               http::Responder& res);

  // An audit line and a metric for a request the HTTP server refused itself (431, 400, 408, 501).
  void rejected(unsigned status, const std::string& reason, std::string_view protocol);

  Metrics& metrics() { return metrics_; }
  // Secrets revoked across the fleet (signgate revoke), checked once a key is recognised. Set
  // before serving.
  void set_revocations(std::shared_ptr<const Revocations> r) { revocations_ = std::move(r); }
  // Takes a new configuration's settings for what the pipeline keeps (the Responses store).
  void configure(const Runtime& rt) {
    responses_.set_limits(rt.config.responses);
    routes_.sticky.set_capacity(rt.config.sticky_entries);
  }
  // What routes have learnt, kept across reloads (ejections, sticky targets).
  RouteState& route_state() { return routes_; }
  const RouteState& route_state() const { return routes_; }
  // This replica's copies of what the gateway remembers, for each loop's Memory.
  ResponseStore& responses() { return responses_; }
  AsyncInvocations& async_invocations() { return async_invocations_; }

 private:
  // Step 5: credentials for the call, or why not. Fills the audit's role.
  std::variant<std::shared_ptr<const aws::Credentials>, Refusal> authorize(Exchange& x, const UpstreamCall& call) const;
  // Answers `r` as `surface` renders it and records it for the audit log.
  boost::asio::awaitable<void> refuse(const Surface& surface, const Refusal& r, Exchange& x, http::Responder& res);
  // Step 8.
  void finish(Exchange& x);

  AuditLog& audit_;
  Metrics& metrics_;
  std::shared_ptr<const Revocations> revocations_;
  AsyncInvocations async_invocations_;
  ResponseStore responses_;
  RouteState routes_;
};

}  // namespace signgate::gateway
