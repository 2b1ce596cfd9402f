// Time formats of the AWS wire: ISO 8601 basic (SigV4) and extended (STS, config).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace signgate {

using SystemTime = std::chrono::system_clock::time_point;

// True at most once per `period`, across threads: for a log line that could otherwise flood.
class Throttle {
 public:
  explicit Throttle(std::chrono::seconds period) : period_(period.count()) {}
  bool allow() {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t seen = last_.load();
    return (seen == 0 || now - seen >= period_) && last_.compare_exchange_strong(seen, now);
  }

 private:
  std::int64_t period_;
  std::atomic<std::int64_t> last_{0};
};

// The clock is a dependency so tests can pin it to 20150830T123600Z.
using Clock = std::function<SystemTime()>;
inline SystemTime system_now() { return std::chrono::system_clock::now(); }

// "20150830T123600Z" — X-Amz-Date.
std::string format_amz_date(SystemTime t);

// "2015-08-30T12:36:00Z".
std::string format_iso8601(SystemTime t);

// Parses "2015-08-30T12:36:00Z", "2015-08-30T12:36:00.123Z", "2015-08-30T12:36:00+02:00"
// and the basic form "20150830T123600Z". Returns nullopt for anything else,
// including out-of-range fields (month 13, 31 February).
std::optional<SystemTime> parse_iso8601(std::string_view text);

}  // namespace signgate
