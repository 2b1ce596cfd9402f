#include "gateway/abandoned.h"

#include <algorithm>
#include <string>

#include "api/json_depth.h"
#include "api/json_fields.h"

namespace signgate::gateway {

Unrelayed::Unrelayed(Exchange& x, UpstreamReply& reply, const boost::asio::any_io_executor& executor)
    : x_(x), deadline_(std::make_shared<http::AbortSignal>()), timer_(executor) {
  reply.set_abort(deadline_);  // Bedrock bills the answer to its end, whoever still reads it
  if (x.abort && x.abort->fired()) {
    begin();
  } else if (x.abort) {
    on_caller_gone_.emplace(x.abort, [this] { begin(); });
  }
}

Unrelayed::~Unrelayed() { timer_.cancel(); }

void Unrelayed::begin() {
  if (x_.stream.caller_left) return;
  x_.stream.caller_left = true;
  const auto seconds = x_.config().abandoned_stream_seconds;
  if (seconds.count() == 0 || x_.config().abandoned_stream_bytes == 0) {
    deadline_->fire("limits.abandoned_stream_* are 0");
    return;
  }
  timer_.expires_after(seconds);
  // The handler keeps the signal: it may run after this is gone (cancelled, then a no-op).
  timer_.async_wait([signal = deadline_](const boost::system::error_code& ec) {
    if (!ec) signal->fire("past limits.abandoned_stream_seconds");
  });
}

bool Unrelayed::take(std::size_t n) {
  bytes_ += n;
  if (bytes_ <= x_.config().abandoned_stream_bytes) return true;
  x_.stream.stopped = "past limits.abandoned_stream_bytes";
  return false;
}

void Unrelayed::failed(std::string_view why) {
  x_.stream.stopped = deadline_->fired() ? deadline_->reason() : std::string(why);
}

std::optional<std::uint64_t> requested_max_tokens(std::string_view body, int max_depth) {
  const nlohmann::json j = api::parse_json(body, max_depth);
  const auto count = [](const nlohmann::json* v) -> std::optional<std::uint64_t> {
    if (v != nullptr && v->is_number_unsigned()) return v->get<std::uint64_t>();
    return std::nullopt;
  };
  if (!j.is_object()) return std::nullopt;
  if (const nlohmann::json* inference = api::field(j, "inferenceConfig")) {
    if (auto n = count(api::field(*inference, "maxTokens"))) return n;
  }
  if (const nlohmann::json* titan = api::field(j, "textGenerationConfig")) {
    if (auto n = count(api::field(*titan, "maxTokenCount"))) return n;
  }
  for (const char* key : {"max_tokens", "maxTokens", "max_gen_len"}) {
    if (auto n = count(api::field(j, key))) return n;
  }
  return std::nullopt;
}

void settle_abandoned(Exchange& x) {
  x.audit.caller_left = true;
  if (!x.audit.error.empty()) x.audit.error += "; ";
  x.audit.error += "the rest of the stream was read unrelayed: ";
  x.audit.error += x.stream.stopped.empty() ? std::string_view("read to its end") : x.stream.stopped;
  if (x.stream.read_to_end && x.audit.input_tokens && x.audit.output_tokens) {
    x.audit.tokens_from = "drained";
    x.metrics->stream_abandoned(true);
    return;
  }
  x.audit.tokens_from = "estimate";
  x.metrics->stream_abandoned(false);
  const std::string_view body = x.call != nullptr ? std::string_view(x.call->body) : std::string_view();
  if (!x.audit.input_tokens) x.audit.input_tokens = (body.size() + 3) / 4;
  std::uint64_t output = std::max(x.audit.output_tokens.value_or(0), x.stream.content_events);
  if (output == 0) output = requested_max_tokens(body, x.config().max_json_depth).value_or(0);
  x.audit.output_tokens = output;
}

}  // namespace signgate::gateway
