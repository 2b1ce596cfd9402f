#include "gateway/fleet.h"

#include <algorithm>

namespace signgate::gateway {

std::string redis_prefix(std::string_view client) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string p = "signgate:{";
  for (const char ch : client) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '{' || c == '}' || c == '%' || c < 0x20 || c == 0x7f) {
      p.push_back('%');
      p.push_back(kHex[c >> 4]);
      p.push_back(kHex[c & 0xf]);
    } else {
      p.push_back(ch);
    }
  }
  p += "}:";
  return p;
}

Result<store::RedisOptions> redis_options(const config::RedisConfig& config) {
  store::RedisOptions o;
  for (std::size_t i = 0; i < config.urls.size(); ++i) {
    auto url = store::parse_redis_url(config.urls[i]);
    if (!url)
      return make_error("redis.url" + (config.urls.size() > 1 ? "[" + std::to_string(i) + "]" : "") + ": " +
                        url.message());
    if (i == 0) {
      o.url = *url;
    } else if (url->tls != o.url.tls) {
      return make_error("redis.url: the seeds must all be redis:// or all rediss://");
    } else {
      o.other_seeds.push_back(*url);
    }
  }
  if (config.urls.empty()) return make_error("redis.url: names no Redis");
  o.cluster = config.cluster == config::RedisConfig::Cluster::kOn    ? store::ClusterMode::kOn
              : config.cluster == config::RedisConfig::Cluster::kOff ? store::ClusterMode::kOff
                                                                     : store::ClusterMode::kAuto;
  const bool cluster_meant = o.cluster == store::ClusterMode::kOn || !o.other_seeds.empty();
  const bool other_db = o.url.db != 0 || std::any_of(o.other_seeds.begin(), o.other_seeds.end(),
                                                     [](const store::RedisUrl& u) { return u.db != 0; });
  if (cluster_meant && other_db) {
    return make_error("redis.url: a Redis Cluster has only database 0; leave the /DB off the URL");
  }
  if (o.cluster == store::ClusterMode::kOff && !o.other_seeds.empty()) {
    return make_error("redis.url: a list of seed URLs is for a Redis Cluster (cluster: false names one server)");
  }
  o.ca_file = config.ca_file;
  o.command_timeout = config.command_timeout;
  return o;
}

Fleet::Loop Fleet::loop(const boost::asio::any_io_executor& executor, ResponseStore& responses,
                        AsyncInvocations& invocations) const {
  auto redis = std::make_shared<store::Redis>(executor, options_.redis);
  Loop l;
  l.limits = redis_limits(executor, redis, options_.deny_on_failure, stats_);
  l.memory = redis_memory(redis, responses, invocations, stats_);
  return l;
}

}  // namespace signgate::gateway
