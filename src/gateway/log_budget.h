// A rate limit on log lines written per request: a storm of 429s or refusals from Bedrock must
// not fill the disk (the audit log keeps every request).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace signgate::gateway {

// At most kPerSecond lines a second; the next line written says how many were left out.
class LogBudget {
 public:
  static constexpr std::int64_t kPerSecond = 20;
  // Whether a line may be written now; `skipped` is set to the lines left out before it.
  bool take(std::uint64_t* skipped) {
    const std::int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t window = window_.load();
    if (window != second && window_.compare_exchange_strong(window, second)) used_.store(0);
    if (used_.fetch_add(1) >= kPerSecond) {
      skipped_.fetch_add(1);
      return false;
    }
    *skipped = skipped_.exchange(0);
    return true;
  }

 private:
  std::atomic<std::int64_t> window_{0};
  std::atomic<std::int64_t> used_{0};
  std::atomic<std::uint64_t> skipped_{0};
};

}  // namespace signgate::gateway
