// Relaying Bedrock's event stream: bytes pass through untouched but are forwarded at frame
// boundaries, each frame CRC-checked, so that if the upstream breaks mid-answer the caller
// can still be sent a well-formed exception frame instead of half a frame. Token usage is
// read along the way. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/usage.h"
#include "aws/eventstream.h"
#include "common/result.h"
#include "gateway/audit.h"
#include "http/message.h"

namespace signgate::gateway {

class FrameAligner {
 public:
  // Adds `piece`; returns the bytes of every frame completed so far (valid until the next
  // call; empty when none completed), or an error if a frame is corrupt or oversized.
  Result<std::string_view> push(std::string_view piece);
  // Bytes of an incomplete frame are held back.
  bool mid_frame() const { return pending_.size() > consumed_; }

  // From ConverseStream's metadata event, or InvokeModelWithResponseStream's invocation metrics
  // in its last chunk; Anthropic's message_start (the first chunk) and message_delta say it
  // earlier, and alone the 1-hour share of the cache writes.
  api::TokenUsage usage;
  std::string service_tier;          // ConverseStream's metadata serviceTier.type, when a tier word
  std::uint64_t content_events = 0;  // is_content_event() frames

 private:
  void read_usage(const aws::eventstream::Message& m);
  std::string pending_;
  std::size_t consumed_ = 0;
  aws::eventstream::Limits limits_;
  aws::eventstream::Message message_;  // reused frame to frame: its strings keep their room
};

// Puts what Bedrock reported into the audit record: each count `u` states replaces the record's
// (`only_missing`: only those the record lacks, as for an InvokeModel answer whose headers said
// them already). Once any count is known, a cache count still unknown is 0, and the 1-hour
// writes are at most the writes.
void audit_usage(AuditRecord& a, const api::TokenUsage& u, bool only_missing = false);

// Whether an answer is an AWS event stream (its Content-Type).
bool is_event_stream(const http::ResponseHead& head);

// Whether `m` carries content: a contentBlockDelta, or any chunk of an InvokeModel stream
// (what an abandoned stream's estimate counts, abandoned.h).
bool is_content_event(const aws::eventstream::Message& m);

// An exception message as Bedrock sends one mid-stream (":message-type" exception), e.g.
// ("internalServerException", "..."): SDKs raise it as that error type.
std::string exception_frame(std::string_view exception_type, std::string_view message);

}  // namespace signgate::gateway
