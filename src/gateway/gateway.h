// The gateway: routes each request (router.h) to its surface and runs it through the pipeline
// (pipeline.h) against the current configuration generation (runtime.h), with one upstream per
// event loop; serves /healthz, /readyz and /metrics itself.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/audit.h"
#include "gateway/fleet.h"
#include "gateway/limits.h"
#include "gateway/metrics.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"
#include "gateway/runtime.h"
#include "gateway/upstream.h"
#include "http/client.h"
#include "http/server.h"

namespace signgate::gateway {

class Gateway {
 public:
  // Makes one loop's upstream, on that loop's executor.
  using UpstreamFactory = std::function<std::unique_ptr<Upstream>(const boost::asio::any_io_executor&)>;

  // Bedrock through a pooled HTTP client per loop (bedrock_upstream.h).
  static UpstreamFactory bedrock(http::ClientOptions options, Metrics& metrics);

  // With a `fleet`, what clients spend and what the gateway remembers are shared through its
  // Redis; without, each replica keeps them on its own.
  Gateway(std::shared_ptr<const Runtime> runtime, AuditLog& audit, Metrics& metrics, UpstreamFactory upstreams,
          std::shared_ptr<const Fleet> fleet = nullptr);

  void swap(std::shared_ptr<const Runtime> runtime);
  std::shared_ptr<const Runtime> runtime() const;

  // Each loop's handler for every surface, and /healthz, /readyz, /metrics when `with_ops`
  // (no ops_listen:). The handlers refer to this gateway: it must outlive the server.
  http::HandlerFactory handlers(bool with_ops = true);
  // Serves only /healthz, /readyz and /metrics: the ops listener's handler.
  http::Handler ops_handler();
  // For requests the server refused itself (431, 400, 408, 501): an audit line and a metric.
  http::Rejected rejected();

  // Refuses the secrets `revocations` holds (kept up to date by a RevocationFollower). Before serving.
  void use_revocations(std::shared_ptr<const Revocations> revocations) {
    revocations_ = revocations;
    pipeline_.set_revocations(std::move(revocations));
  }

  // Ready when every identity in use holds unexpired credentials; otherwise `why`.
  bool ready(std::string* why) const;
  // What routes have learnt (ejections, sticky targets), for a fleet to share.
  RouteState& route_state() { return pipeline_.route_state(); }
  // /readyz's word on routes: ejected targets and identities STS refuses (empty: no routes).
  std::string routes_detail() const;

 private:
  boost::asio::awaitable<void> handle(const http::RequestHead& head, http::BodyReader& body, http::Responder& res,
                                      Pipeline::LoopParts parts, bool with_ops);
  boost::asio::awaitable<void> ops(OpsEndpoint endpoint, http::Responder& res);

  Metrics& metrics_;
  Pipeline pipeline_;
  std::shared_ptr<const Revocations> revocations_;  // with a fleet: for /readyz and /metrics
  UpstreamFactory upstreams_;
  std::shared_ptr<const Fleet> fleet_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Runtime> runtime_;
};

}  // namespace signgate::gateway
