// Who started which asynchronous invocation (StartAsyncInvoke's invocationArn → client), so
// that a client sees and reads only its own. In memory and bounded: the newest `capacity`
// invocations are remembered, older ones forgotten (their owner then sees them no more).
// Thread-safe; shared by every event loop. This is one replica's copy: with redis:, the
// fleet's is behind it (memory.h).
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace signgate::gateway {

class AsyncInvocations {
 public:
  explicit AsyncInvocations(std::size_t capacity = 100'000) : capacity_(capacity) {}

  void record(const std::string& invocation_arn, const std::string& client);
  // The client that started it, if remembered.
  std::optional<std::string> owner(const std::string& invocation_arn) const;
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> owner_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace signgate::gateway
