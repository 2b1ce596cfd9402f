// A streamed answer whose caller left before its end. Bedrock goes on producing the answer,
// and bills it, so signgate reads on without relaying until Bedrock's usage arrives, within
// limits.abandoned_stream_bytes and limits.abandoned_stream_seconds, and charges what Bedrock
// said. Past a bound, or if the upstream fails first, it charges an estimate instead:
//   input  what Bedrock reported (Anthropic's message_start carries it), else
//          estimated_input_tokens() of the request body;
//   output the larger of what Bedrock reported and the content events seen (each carries at
//          least one token), else the request's max_tokens, else 0; each at most 2^24;
//   cache  what Bedrock reported (the cache reads and writes, and their 1-hour share, of
//          Anthropic's message_start), else 0.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "gateway/exchange.h"
#include "gateway/upstream.h"
#include "http/abort.h"

namespace signgate::gateway {

// Watches a stream's caller for the relay: from construction `reply` answers to this watch
// instead of the caller, and once the caller leaves (begin(), or the caller's abort signal
// firing) a deadline of limits.abandoned_stream_seconds stops its reading, and take() holds the
// bytes read after to limits.abandoned_stream_bytes. The reading stops at once when signgate
// stops (the estimate is charged within the shutdown grace) or when more streams than
// limits.max_connections are being read unrelayed in the process.
class Unrelayed {
 public:
  Unrelayed(Exchange& x, UpstreamReply& reply, const boost::asio::any_io_executor& executor);
  ~Unrelayed();
  Unrelayed(const Unrelayed&) = delete;
  Unrelayed& operator=(const Unrelayed&) = delete;

  // The caller left: nothing more is relayed, and the deadline starts. Idempotent.
  void begin();
  bool active() const { return x_.stream.caller_left; }
  // Counts `n` more bytes read after the caller left; false (and the watch says why) once past
  // the byte bound.
  bool take(std::size_t n);
  // The stream was read to its end: Bedrock's usage is in what was read.
  void ended() { x_.stream.read_to_end = true; }
  // The reading failed with `why` (or stopped at the deadline, which then says so).
  void failed(std::string_view why);

 private:
  Exchange& x_;
  std::shared_ptr<http::AbortSignal> deadline_;
  boost::asio::steady_timer timer_;
  std::optional<http::AbortScope> on_caller_gone_;
  std::optional<http::AbortScope> on_stopping_;
  bool stopping_ = false;
  bool counted_ = false;  // in unrelayed_now
  std::uint64_t bytes_ = 0;
};

// The max_tokens a request body (Converse's inferenceConfig.maxTokens, Anthropic's and other
// InvokeModel bodies' max_tokens, Nova's max_new_tokens, Titan's maxTokenCount, Llama's
// max_gen_len, OpenAI's max_completion_tokens and max_output_tokens) asked for.
std::optional<std::uint64_t> requested_max_tokens(std::string_view body, int max_depth);

// An estimate of a request body's input tokens: its strings' bytes divided by 4 (Converse's
// requestMetadata left out: the model never reads it), but for each
// image, document or video given inline (a "bytes" or "data" string over 1 KiB), kMediaTokens.
std::uint64_t estimated_input_tokens(std::string_view body, int max_depth);
inline constexpr std::uint64_t kMediaTokens = 1600;  // a Claude image at its largest size

// Step 8 for a stream its caller left: the audit's tokens as Bedrock said after the caller left
// ("drained") or the estimate above ("estimate"), counted in the metrics.
void settle_abandoned(Exchange& x);

}  // namespace signgate::gateway
