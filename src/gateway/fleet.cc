#include "gateway/fleet.h"

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

Fleet::Loop Fleet::loop(const boost::asio::any_io_executor& executor, ResponseStore& responses,
                        AsyncInvocations& invocations) const {
  auto redis = std::make_shared<store::Redis>(executor, options_.redis);
  Loop l;
  l.limits = redis_limits(executor, redis, options_.deny_on_failure, stats_);
  l.memory = redis_memory(redis, responses, invocations, stats_);
  return l;
}

}  // namespace signgate::gateway
