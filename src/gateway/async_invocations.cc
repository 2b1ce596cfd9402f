#include "gateway/async_invocations.h"

namespace signgate::gateway {

void AsyncInvocations::record(const std::string& invocation_arn, const std::string& client) {
  std::lock_guard lock(mutex_);
  if (!owner_.emplace(invocation_arn, client).second) return;
  order_.push_back(invocation_arn);
  while (order_.size() > capacity_) {
    owner_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::string> AsyncInvocations::owner(const std::string& invocation_arn) const {
  std::lock_guard lock(mutex_);
  const auto it = owner_.find(invocation_arn);
  if (it == owner_.end()) return std::nullopt;
  return it->second;
}

std::size_t AsyncInvocations::size() const {
  std::lock_guard lock(mutex_);
  return owner_.size();
}

}  // namespace signgate::gateway
