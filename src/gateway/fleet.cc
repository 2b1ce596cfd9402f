#include "gateway/fleet.h"

namespace signgate::gateway {

Fleet::Loop Fleet::loop(const boost::asio::any_io_executor& executor, ResponseStore& responses,
                        AsyncInvocations& invocations) const {
  auto redis = std::make_shared<store::Redis>(executor, options_.redis);
  Loop l;
  l.limits = redis_limits(executor, redis, options_.deny_on_failure, stats_);
  l.memory = redis_memory(redis, responses, invocations, stats_);
  return l;
}

}  // namespace signgate::gateway
