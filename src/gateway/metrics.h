// /metrics in Prometheus text format: requests by client/operation/model/status, latency
// and first-byte histograms, upstream retries, open streams, and the credential caches'
// refreshes, failures and seconds to expiry (read at scrape time).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "aws/credentials/cache.h"

namespace signgate::gateway {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,   30};
  void observe(double seconds);
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// What is left of a client's budgets: its daily tokens, and USD today and this month.
struct BudgetMetrics {
  std::string client;
  std::optional<std::int64_t> remaining;  // tokens_per_day
  std::optional<double> usd_today;        // usd_per_day
  std::optional<double> usd_this_month;   // usd_per_month
};

// The fleet's shared store, when there is one (fleet.h's FleetStats, read once).
struct FleetMetrics {
  bool redis_up = false;
  std::uint64_t redis_failures = 0;
  std::uint64_t local_fallbacks = 0;
  std::size_t cluster_nodes = 0;  // primaries of the Redis Cluster; 0: one server
  std::uint64_t map_refreshes = 0;
  std::uint64_t redirects = 0;
  bool revocations_stale = false;
};

// A route's target as /metrics shows it: whether it is ejected now.
struct RouteTargetMetrics {
  std::string route, target;
  bool ejected = false;
};

struct IdentityMetrics {
  std::string role_session;
  aws::CacheStatus status;
};

// One request as /metrics counts it. `model` only once the client's allowlist allowed it;
// `protocol` is one of http::protocol_of()'s three names.
struct RequestSample {
  std::string_view client, surface, operation, model, protocol;
  unsigned status = 0;
  double latency_seconds = 0;
  std::optional<double> first_byte_seconds;
  std::optional<double> cost_usd;  // what the call cost (SPEC §8); null: unpriced or no usage
};

// Orders series keys by their labels whether they are held (strings) or looked up (views), so
// a request finds its series without copying the labels (std::map with a transparent compare).
struct SeriesLess {
  using is_transparent = void;
  static std::string_view label(std::string_view s) { return s; }
  static unsigned label(unsigned v) { return v; }
  template <class... T>
  static auto labels(const std::tuple<T...>& key) {
    return std::apply([](const auto&... e) { return std::tuple{label(e)...}; }, key);
  }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return labels(a) < labels(b);
  }
};

class Metrics {
 public:
  void request(const RequestSample& r);
  void upstream_retry() { ++retries_; }
  // An anthropic-beta a client asked for that is not in anthropic.betas, so was not sent.
  // At most kMaxBetaLabels distinct names are kept as labels; the rest count as "other".
  void beta_dropped(const std::string& client, const std::string& beta);
  void stream_opened() { ++open_streams_; }
  void stream_closed() { --open_streams_; }
  // A stream its caller left, charged with Bedrock's usage read after (`drained`) or an estimate.
  void stream_abandoned(bool drained) { ++(drained ? abandoned_drained_ : abandoned_estimated_); }

  // Routes (SPEC §7): an attempt on a target and its outcome ("ok", a failure kind, "other"),
  // a failover away from a target, a target ejected. Route and target names come from the
  // config, never from callers.
  void route_attempt(std::string_view route, std::string_view target, std::string_view outcome);
  void route_failover(std::string_view route, std::string_view target);
  void route_ejection(std::string_view route, std::string_view target);

  std::string render(const std::vector<IdentityMetrics>& identities, SystemTime now,
                     const std::vector<BudgetMetrics>& budgets = {}, const FleetMetrics* fleet = nullptr,
                     const std::vector<RouteTargetMetrics>& targets = {}) const;

 private:
  static constexpr std::size_t kMaxModelsPerClient = 64;
  static constexpr std::size_t kMaxBetaLabels = 32;

  static void observe(std::map<std::tuple<std::string, std::string>, Histogram, SeriesLess>& histograms,
                      std::string_view surface, std::string_view operation, double seconds);

  mutable std::mutex mutex_;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> models_by_client_;
  // Transparent (std::less<>): a request looks its series up by views, and copies the labels
  // only the first time a series appears.
  std::map<std::tuple<std::string, std::string, std::string, std::string, unsigned, std::string>, std::uint64_t,
           SeriesLess>
      requests_;
  std::map<std::tuple<std::string, std::string>, Histogram, SeriesLess> latency_, first_byte_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> betas_dropped_;
  std::set<std::string> beta_labels_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t, SeriesLess> route_attempts_;
  std::map<std::tuple<std::string, std::string>, std::uint64_t, SeriesLess> route_failovers_, route_ejections_;
  std::map<std::string, double, std::less<>> cost_by_client_;  // signgate_cost_usd_total
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::int64_t> open_streams_{0};
  std::atomic<std::uint64_t> abandoned_drained_{0}, abandoned_estimated_{0};
};

}  // namespace signgate::gateway
