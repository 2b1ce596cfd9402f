#include "gateway/metrics.h"

#include "common/version.h"

#include <cstdio>

namespace signgate::gateway {

namespace {

// Dollars to the nano-dollar, without an exponent or trailing zeros.
std::string usd_value(double usd) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9f", usd);
  std::string s(buf);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Label values escaped as the text format wants (backslash, quote, newline), and made valid
// UTF-8 without control characters: an invalid sequence or a control byte becomes U+FFFD,
// so a scraper never receives bytes that break the exposition.
std::string escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t n = v.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (c == '\\' || c == '"') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out += "\\n";
      } else if (c < 0x20 || c == 0x7f) {
        out += "\xEF\xBF\xBD";
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Length and the smallest code point for it: overlong forms and surrogates are invalid.
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
      min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && !(cp >= 0x80 && cp < 0xA0);
    if (ok) {
      out.append(v, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

}  // namespace

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out.append(name).append("_bucket{").append(labels).append(",le=\"").append(number(kBounds[i])).append("\"} ");
    out.append(std::to_string(cumulative)).append("\n");
  }
  out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum{" + labels + "} " + number(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

void Metrics::observe(std::map<std::tuple<std::string, std::string>, Histogram, SeriesLess>& histograms,
                      std::string_view surface, std::string_view operation, double seconds) {
  auto it = histograms.find(std::tuple{surface, operation});
  if (it == histograms.end()) {
    it = histograms.emplace(std::tuple{std::string(surface), std::string(operation)}, Histogram{}).first;
  }
  it->second.observe(seconds);
}

void Metrics::request(const RequestSample& r) {
  std::lock_guard lock(mutex_);
  // A client may name any model its allowlist's globs admit: past kMaxModelsPerClient
  // distinct ones its requests count under "other", so no caller grows /metrics for ever.
  std::string_view label = r.model;
  if (!r.model.empty()) {
    auto it = models_by_client_.find(r.client);
    if (it == models_by_client_.end())
      it = models_by_client_.emplace(std::string(r.client), std::set<std::string, std::less<>>{}).first;
    auto& seen = it->second;
    if (seen.find(r.model) == seen.end()) {
      if (seen.size() >= kMaxModelsPerClient) {
        label = "other";
      } else {
        seen.emplace(r.model);
      }
    }
  }
  if (r.cost_usd && *r.cost_usd > 0 && !r.client.empty()) {
    // Only answered calls of authenticated clients are priced: the labels are the config's names.
    auto spent = cost_by_client_.find(r.client);
    if (spent == cost_by_client_.end()) spent = cost_by_client_.emplace(std::string(r.client), 0.0).first;
    spent->second += *r.cost_usd;
  }
  const std::tuple<std::string_view, std::string_view, std::string_view, std::string_view, unsigned, std::string_view>
      series{r.client, r.surface, r.operation, label, r.status, r.protocol};
  auto counted = requests_.find(series);
  if (counted == requests_.end()) {
    counted = requests_
                  .emplace(std::tuple{std::string(r.client), std::string(r.surface), std::string(r.operation),
                                      std::string(label), r.status, std::string(r.protocol)},
                           0)
                  .first;
  }
  ++counted->second;
  observe(latency_, r.surface, r.operation, r.latency_seconds);
  if (r.first_byte_seconds) observe(first_byte_, r.surface, r.operation, *r.first_byte_seconds);
}

void Metrics::beta_dropped(const std::string& client, const std::string& beta) {
  std::lock_guard lock(mutex_);
  static const std::string kOther = "other";
  const std::string* label = &beta;
  if (beta_labels_.count(beta) == 0) {
    if (beta_labels_.size() >= kMaxBetaLabels) {
      label = &kOther;
    } else {
      beta_labels_.insert(beta);
    }
  }
  ++betas_dropped_[{client, *label}];
}

namespace {
template <class Map, class Key>
void bump(Map& m, const Key& key) {
  auto it = m.find(key);
  if (it == m.end()) {
    it = m.emplace(std::apply([](const auto&... e) { return std::tuple{std::string(e)...}; }, key), 0).first;
  }
  ++it->second;
}
}  // namespace

void Metrics::route_attempt(std::string_view route, std::string_view target, std::string_view outcome) {
  std::lock_guard lock(mutex_);
  bump(route_attempts_, std::tuple{route, target, outcome});
}

void Metrics::route_failover(std::string_view route, std::string_view target) {
  std::lock_guard lock(mutex_);
  bump(route_failovers_, std::tuple{route, target});
}

void Metrics::route_ejection(std::string_view route, std::string_view target) {
  std::lock_guard lock(mutex_);
  bump(route_ejections_, std::tuple{route, target});
}

std::string Metrics::render(const std::vector<IdentityMetrics>& identities, SystemTime now,
                            const std::vector<BudgetMetrics>& budgets, const FleetMetrics* fleet,
                            const std::vector<RouteTargetMetrics>& targets) const {
  std::string out =
      "# HELP signgate_build_info The running binary: its version and commit.\n"
      "# TYPE signgate_build_info gauge\n"
      "signgate_build_info{version=\"" +
      escape(std::string(version())) + "\",commit=\"" + escape(std::string(commit())) + "\"} 1\n";
  out +=
      "# HELP signgate_requests_total Requests by client, surface, operation, model, status and protocol.\n"
      "# TYPE signgate_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [k, n] : requests_) {
    const auto& [client, surface, operation, model, status, protocol] = k;
    out += "signgate_requests_total{client=\"" + escape(client) + "\",surface=\"" + escape(surface) +
           "\",operation=\"" + escape(operation) + "\",model=\"" + escape(model) + "\",status=\"" +
           std::to_string(status) + "\",protocol=\"" + escape(protocol) + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP signgate_request_duration_seconds Time from request to the last byte of the answer.\n"
      "# TYPE signgate_request_duration_seconds histogram\n";
  for (const auto& [k, h] : latency_) {
    h.render(out, "signgate_request_duration_seconds",
             "surface=\"" + escape(std::get<0>(k)) + "\",operation=\"" + escape(std::get<1>(k)) + "\"");
  }
  out +=
      "# HELP signgate_first_byte_seconds Time from request to the first byte of the answer.\n"
      "# TYPE signgate_first_byte_seconds histogram\n";
  for (const auto& [k, h] : first_byte_) {
    h.render(out, "signgate_first_byte_seconds",
             "surface=\"" + escape(std::get<0>(k)) + "\",operation=\"" + escape(std::get<1>(k)) + "\"");
  }
  out +=
      "# HELP signgate_upstream_retries_total Bedrock 429/503 answers retried before any byte reached the client.\n"
      "# TYPE signgate_upstream_retries_total counter\nsigngate_upstream_retries_total " +
      std::to_string(retries_.load()) + "\n";
  out +=
      "# HELP signgate_anthropic_betas_dropped_total anthropic-beta values not in anthropic.betas, so not sent to "
      "Bedrock.\n"
      "# TYPE signgate_anthropic_betas_dropped_total counter\n";
  for (const auto& [k, n] : betas_dropped_) {
    out += "signgate_anthropic_betas_dropped_total{client=\"" + escape(k.first) + "\",beta=\"" + escape(k.second) +
           "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP signgate_open_streams Streaming answers being relayed now.\n"
      "# TYPE signgate_open_streams gauge\nsigngate_open_streams " +
      std::to_string(open_streams_.load()) + "\n" +
      "# HELP signgate_abandoned_streams_total Streams whose caller left before the end, by how their tokens "
      "were charged: Bedrock's usage read after the caller left, or an estimate.\n"
      "# TYPE signgate_abandoned_streams_total counter\n"
      "signgate_abandoned_streams_total{tokens_from=\"drained\"} " +
      std::to_string(abandoned_drained_.load()) + "\nsigngate_abandoned_streams_total{tokens_from=\"estimate\"} " +
      std::to_string(abandoned_estimated_.load()) + "\n";
  if (!route_attempts_.empty() || !targets.empty()) {
    out +=
        "# HELP signgate_route_attempts_total Upstream attempts of routed calls by route, target and outcome (ok, "
        "or the failure kind; other: a failure no route fails over on).\n"
        "# TYPE signgate_route_attempts_total counter\n";
    for (const auto& [k, n] : route_attempts_) {
      out += "signgate_route_attempts_total{route=\"" + escape(std::get<0>(k)) + "\",target=\"" +
             escape(std::get<1>(k)) + "\",outcome=\"" + escape(std::get<2>(k)) + "\"} " + std::to_string(n) + "\n";
    }
    const auto per_target = [&](const char* name, const char* help, const auto& series) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
      for (const auto& [k, n] : series) {
        out += std::string(name) + "{route=\"" + escape(std::get<0>(k)) + "\",target=\"" + escape(std::get<1>(k)) +
               "\"} " + std::to_string(n) + "\n";
      }
    };
    per_target("signgate_route_failovers_total", "Calls moved on from a target to the next one.", route_failovers_);
    per_target("signgate_route_ejections_total", "Times a target was taken out of its routes after failing.",
               route_ejections_);
    out +=
        "# HELP signgate_route_target_ejected Whether a route's target is ejected now (1) or serves (0).\n"
        "# TYPE signgate_route_target_ejected gauge\n";
    for (const auto& t : targets) {
      out += "signgate_route_target_ejected{route=\"" + escape(t.route) + "\",target=\"" + escape(t.target) + "\"} " +
             (t.ejected ? "1" : "0") + "\n";
    }
  }
  out +=
      "# HELP signgate_budget_remaining_tokens Tokens left in a client's daily budget (budget.tokens_per_day), "
      "as this replica counts them.\n"
      "# TYPE signgate_budget_remaining_tokens gauge\n";
  for (const auto& b : budgets) {
    if (!b.remaining) continue;
    out +=
        "signgate_budget_remaining_tokens{client=\"" + escape(b.client) + "\"} " + std::to_string(*b.remaining) + "\n";
  }
  out +=
      "# HELP signgate_budget_remaining_usd USD left in a client's budget today (budget=\"usd_per_day\") or this "
      "month (budget=\"usd_per_month\"), UTC, as this replica counts it.\n"
      "# TYPE signgate_budget_remaining_usd gauge\n";
  for (const auto& b : budgets) {
    if (b.usd_today) {
      out += "signgate_budget_remaining_usd{client=\"" + escape(b.client) + "\",budget=\"usd_per_day\"} " +
             usd_value(*b.usd_today) + "\n";
    }
    if (b.usd_this_month) {
      out += "signgate_budget_remaining_usd{client=\"" + escape(b.client) + "\",budget=\"usd_per_month\"} " +
             usd_value(*b.usd_this_month) + "\n";
    }
  }
  out +=
      "# HELP signgate_cost_usd_total What a client's answered calls cost in USD at the price table's rates "
      "(pricing: over the shipped table), since this replica started.\n"
      "# TYPE signgate_cost_usd_total counter\n";
  for (const auto& [client, usd] : cost_by_client_) {  // mutex_ is held
    out += "signgate_cost_usd_total{client=\"" + escape(client) + "\"} " + usd_value(usd) + "\n";
  }
  if (fleet != nullptr) {
    out +=
        "# HELP signgate_redis_up Whether the fleet's Redis (redis:) answered this replica last time it was asked.\n"
        "# TYPE signgate_redis_up gauge\n"
        "signgate_redis_up " +
        std::string(fleet->redis_up ? "1" : "0") +
        "\n"
        "# HELP signgate_redis_failures_total Commands to the fleet's Redis not answered within the command timeout "
        "(or refused).\n"
        "# TYPE signgate_redis_failures_total counter\n"
        "signgate_redis_failures_total " +
        std::to_string(fleet->redis_failures) +
        "\n"
        "# HELP signgate_redis_local_fallbacks_total Admissions decided by this replica alone because Redis did not "
        "answer (on_failure: local).\n"
        "# TYPE signgate_redis_local_fallbacks_total counter\n"
        "signgate_redis_local_fallbacks_total " +
        std::to_string(fleet->local_fallbacks) + "\n";
    out +=
        "# HELP signgate_redis_cluster_nodes Primaries of the Redis Cluster in the last slot map read (0: one "
        "Redis server).\n"
        "# TYPE signgate_redis_cluster_nodes gauge\n"
        "signgate_redis_cluster_nodes ";
    out += std::to_string(fleet->cluster_nodes);
    out +=
        "\n# HELP signgate_redis_map_refreshes_total Redis Cluster slot maps read (at start, after MOVED, "
        "after a failover).\n"
        "# TYPE signgate_redis_map_refreshes_total counter\n"
        "signgate_redis_map_refreshes_total ";
    out += std::to_string(fleet->map_refreshes);
    out +=
        "\n# HELP signgate_redis_redirects_total MOVED and ASK redirections followed.\n"
        "# TYPE signgate_redis_redirects_total counter\n"
        "signgate_redis_redirects_total ";
    out += std::to_string(fleet->redirects);
    out +=
        "\n# HELP signgate_revocations_stale Whether the fleet's revoked keys have not been read from Redis for "
        "over 5 s (on_failure: deny refuses API keys meanwhile; local may accept a revoked one).\n"
        "# TYPE signgate_revocations_stale gauge\n"
        "signgate_revocations_stale ";
    out += fleet->revocations_stale ? "1\n" : "0\n";
  }
  out +=
      "# HELP signgate_credential_refreshes_total Successful credential fetches (STS AssumeRole and base sources).\n"
      "# TYPE signgate_credential_refreshes_total counter\n";
  for (const auto& id : identities) {
    out += "signgate_credential_refreshes_total{role_session=\"" + escape(id.role_session) + "\"} " +
           std::to_string(id.status.refreshes) + "\n";
  }
  out +=
      "# HELP signgate_credential_failures_total Failed credential fetches.\n"
      "# TYPE signgate_credential_failures_total counter\n";
  for (const auto& id : identities) {
    out += "signgate_credential_failures_total{role_session=\"" + escape(id.role_session) + "\"} " +
           std::to_string(id.status.failures) + "\n";
  }
  out +=
      "# HELP signgate_credential_seconds_to_expiry Seconds until the held credentials expire (-1: none held).\n"
      "# TYPE signgate_credential_seconds_to_expiry gauge\n";
  for (const auto& id : identities) {
    double left = -1;
    if (id.status.ready && id.status.expiration) {
      left = std::chrono::duration<double>(*id.status.expiration - now).count();
    } else if (id.status.ready) {
      left = 1e9;  // keys without an expiry
    }
    out += "signgate_credential_seconds_to_expiry{role_session=\"" + escape(id.role_session) + "\"} " + number(left) +
           "\n";
  }
  return out;
}

}  // namespace signgate::gateway
