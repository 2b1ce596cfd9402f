// Who started which asynchronous invocation (StartAsyncInvoke's invocationArn → client), so
// that a client sees and reads only its own. In memory and bounded: the newest `capacity`
// invocations are remembered, older ones forgotten (their owner then sees them no more).
// Thread-safe; shared by every event loop. This is one replica's copy: with redis:, the
// fleet's is behind it (memory.h). Also how a caller's clientRequestToken is scoped to its
// client before it goes to Bedrock.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace signgate::gateway {

class AsyncInvocations {
 public:
  explicit AsyncInvocations(std::size_t capacity = 100'000) : capacity_(capacity) {}

  // Records `client` as the one that started it, unless another was recorded first (first
  // writer wins: a second client never takes an invocation over). Returns who is recorded.
  std::string record(const std::string& invocation_arn, const std::string& client);
  // The client that started it, if remembered.
  std::optional<std::string> owner(const std::string& invocation_arn) const;
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> owner_;
  std::deque<std::string> order_;  // oldest first
};

// Whether `token` fits StartAsyncInvoke's clientRequestToken (botocore's
// AsyncInvokeIdempotencyToken): 1 to 256 characters, each printable ASCII but space ([!-~]).
bool is_request_token(std::string_view token);

// The clientRequestToken Bedrock gets for `client`'s `token`: 64 lower-case hex digits (so a
// valid token whatever the caller sent), the same on every replica and after restarts (a
// retry stays idempotent), and never the same for two clients (one cannot replay another's
// token to be handed that client's invocation).
std::string upstream_request_token(std::string_view client, std::string_view token);

}  // namespace signgate::gateway
