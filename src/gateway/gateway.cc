#include "gateway/gateway.h"

#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <vector>

#include "api/json_scan.h"

#include "common/time.h"
#include "gateway/bedrock_upstream.h"
#include "gateway/route_runner.h"

namespace signgate::gateway {

namespace asio = boost::asio;

Gateway::UpstreamFactory Gateway::bedrock(http::ClientOptions options, Metrics& metrics) {
  return [options = std::move(options), &metrics](const asio::any_io_executor& executor) -> std::unique_ptr<Upstream> {
    return std::make_unique<BedrockUpstream>(executor, options, metrics);
  };
}

Gateway::Gateway(std::shared_ptr<const Runtime> runtime, AuditLog& audit, Metrics& metrics, UpstreamFactory upstreams,
                 std::shared_ptr<const Fleet> fleet)
    : metrics_(metrics),
      pipeline_(audit, metrics),
      upstreams_(std::move(upstreams)),
      fleet_(std::move(fleet)),
      runtime_(std::move(runtime)) {
  pipeline_.configure(*runtime_);
}

void Gateway::swap(std::shared_ptr<const Runtime> runtime) {
  pipeline_.configure(*runtime);
  std::lock_guard lock(mutex_);
  runtime_ = std::move(runtime);
}

std::shared_ptr<const Runtime> Gateway::runtime() const {
  std::lock_guard lock(mutex_);
  return runtime_;
}

bool Gateway::ready(std::string* why) const { return any_identity_ready(*runtime(), why); }

std::string Gateway::routes_detail() const {
  // Detail only: a replica with an ejected target or an identity STS refuses still serves its
  // routes' other targets, and a load balancer must not take every replica out for it.
  const auto rt = runtime();
  if (rt->routes.empty()) return {};
  std::set<std::string> ejected, unavailable;
  const auto now = RouteClock::now();
  for (const auto& route : rt->routes.routes()) {
    for (const auto& t : route.targets) {
      if (target_ejected(t, pipeline_.route_state().health, now)) ejected.insert(route.name + "/" + t.name);
    }
  }
  for (const auto& identity : rt->identities) {
    if (!identity.route_identity.empty() && !identity.cache->current()) unavailable.insert(identity.route_identity);
  }
  const auto list = [](const std::set<std::string>& names) {
    std::string out = "[";
    for (const auto& n : names) {
      if (out.size() > 1) out += ',';
      api::append_json_string_checked(out, n);
    }
    return out + "]";
  };
  return ",\"routes\":{\"ejected_targets\":" + list(ejected) + ",\"identities_unavailable\":" + list(unavailable) + "}";
}

http::HandlerFactory Gateway::handlers(bool with_ops) {
  return [this, with_ops](const asio::any_io_executor& executor) -> http::Handler {
    // The loop's parts live as long as its handler, and are used only from that loop.
    std::shared_ptr<Upstream> upstream = upstreams_(executor);
    std::shared_ptr<Fleet::Loop> shared = std::make_shared<Fleet::Loop>();
    if (fleet_) {
      *shared = fleet_->loop(executor, pipeline_.responses(), pipeline_.async_invocations());
    } else {
      shared->limits = local_limits();
      shared->memory = local_memory(pipeline_.responses(), pipeline_.async_invocations());
    }
    return [this, with_ops, upstream, shared](const http::RequestHead& head, http::BodyReader& body,
                                              http::Responder& res) {
      return handle(head, body, res, Pipeline::LoopParts{*upstream, *shared->limits, *shared->memory}, with_ops);
    };
  };
}

http::Handler Gateway::ops_handler() {
  return [this](const http::RequestHead& head, http::BodyReader&, http::Responder& res) -> asio::awaitable<void> {
    const std::string_view target = head.target();
    const Routed r = route(head.method(), target.substr(0, target.find('?')), true);
    if (r.route != nullptr && r.route->ops != OpsEndpoint::kNone) {
      co_await ops(r.route->ops, res);
      co_return;
    }
    co_await res.send(404, content_type("application/json"),
                      std::string("{\"message\":\"the ops listener serves GET /healthz, /readyz and /metrics\"}\n"));
  };
}

http::Rejected Gateway::rejected() {
  return [this](unsigned status, const std::string& reason, std::string_view protocol) {
    pipeline_.rejected(status, reason, protocol);
  };
}

// Not a coroutine itself: it picks the coroutine that serves the request (one frame less).
asio::awaitable<void> Gateway::handle(const http::RequestHead& head, http::BodyReader& body, http::Responder& res,
                                      Pipeline::LoopParts parts, bool with_ops) {
  const std::string_view target = head.target();
  Routed r = route(head.method(), target.substr(0, target.find('?')), with_ops);
  if (r.refusal) return pipeline_.refuse_unrouted(r.dialect, std::move(*r.refusal), head, res);
  if (r.route->ops != OpsEndpoint::kNone) return ops(r.route->ops, res);
  return pipeline_.run(r.route->surface(), runtime(), head, body, res, parts);
}

asio::awaitable<void> Gateway::ops(OpsEndpoint endpoint, http::Responder& res) {
  if (endpoint == OpsEndpoint::kHealthz) {
    co_await res.send(200, content_type("application/json"), std::string("{\"status\":\"ok\"}\n"));
  } else if (endpoint == OpsEndpoint::kReadyz) {
    // With a fleet, whether its Redis answers: detail only. A replica serves without it (each
    // on its own, or refusing limited clients with on_failure: deny), and a Redis outage must
    // not take every replica out of its load balancer at once.
    std::string redis;
    if (fleet_) redis = fleet_->stats()->redis_up ? ",\"redis\":\"up\"" : ",\"redis\":\"unreachable\"";
    // Revoked keys not read for a while: with on_failure: deny keys are refused meanwhile,
    // with local a revoked key may be accepted.
    if (revocations_ && !revocations_->current(std::chrono::steady_clock::now())) {
      redis += ",\"revocations\":\"stale\"";
    }
    std::string why;
    const std::string routes = routes_detail();
    if (ready(&why)) {
      std::string body = "{\"status\":\"ready\"" + redis + routes + "}\n";
      co_await res.send(200, content_type("application/json"), std::move(body));
    } else {
      // The reason names roles, accounts and STS's words: the log has it, not the caller.
      static Throttle every_10s(std::chrono::seconds(10));
      if (every_10s.allow()) spdlog::warn("not ready: {}", why);
      std::string body =
          "{\"status\":\"not ready\",\"reason\":\"no identity holds valid AWS credentials; see the gateway's log\"" +
          redis + routes + "}\n";
      co_await res.send(503, content_type("application/json"), std::move(body));
    }
  } else {
    const auto rt = runtime();
    std::vector<IdentityMetrics> ids;
    for (const auto& identity : rt->identities) {
      if (std::none_of(ids.begin(), ids.end(),
                       [&](const auto& m) { return m.role_session == identity.role_session; })) {
        ids.push_back({identity.role_session, identity.cache->status()});
      }
    }
    std::vector<BudgetMetrics> budgets;
    const SystemTime now = system_now();
    for (const auto& c : rt->clients.clients()) {
      if (!c.limiter) continue;
      const auth::BudgetLeft left = c.limiter->budget_left(now);
      if (!left.tokens_today && !left.usd_today && !left.usd_this_month) continue;
      const auto usd = [](const std::optional<auth::NanoUsd>& v) {
        return v ? std::optional<double>(static_cast<double>(*v) / auth::kNanoPerUsd) : std::nullopt;
      };
      budgets.push_back({c.name, left.tokens_today, usd(left.usd_today), usd(left.usd_this_month)});
    }
    std::optional<FleetMetrics> fleet;
    if (fleet_) {
      const FleetStats& st = *fleet_->stats();
      fleet = FleetMetrics{st.redis_up.load(),
                           st.redis_failures.load(),
                           st.local_fallbacks.load(),
                           st.redis->cluster_nodes.load(),
                           st.redis->map_refreshes.load(),
                           st.redis->redirects.load(),
                           revocations_ && !revocations_->current(std::chrono::steady_clock::now())};
    }
    std::vector<RouteTargetMetrics> targets;
    const auto steady = RouteClock::now();
    for (const auto& route : rt->routes.routes()) {
      for (const auto& t : route.targets) {
        targets.push_back({route.name, t.name, target_ejected(t, pipeline_.route_state().health, steady)});
      }
    }
    std::string body = metrics_.render(ids, now, budgets, fleet ? &*fleet : nullptr, targets);
    co_await res.send(200, content_type("text/plain; version=0.0.4"), std::move(body));
  }
}

}  // namespace signgate::gateway
