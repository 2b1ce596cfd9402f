#include "gateway/abandoned.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "http/server.h"

namespace signgate::gateway {

namespace {

// Streams read unrelayed now, in the process (capped at limits.max_connections).
std::atomic<std::uint64_t> unrelayed_now{0};

// What an estimate may say at most: more than any model's context or answer.
constexpr std::uint64_t kMaxEstimate = 1u << 24;

}  // namespace

Unrelayed::Unrelayed(Exchange& x, UpstreamReply& reply, const boost::asio::any_io_executor& executor)
    : x_(x), deadline_(std::make_shared<http::AbortSignal>()), timer_(executor) {
  reply.set_abort(deadline_);  // Bedrock bills the answer to its end, whoever still reads it
  // Both run inside nghttp2's callbacks when they fire: nothing may escape them.
  if (auto stopping = http::loop_stopping(); stopping && !stopping->fired()) {
    on_stopping_.emplace(std::move(stopping), [this]() noexcept {
      stopping_ = true;
      if (active()) deadline_->fire("signgate is stopping");
    });
  } else if (stopping) {
    stopping_ = true;
  }
  if (x.abort && x.abort->fired()) {
    begin();
  } else if (x.abort) {
    on_caller_gone_.emplace(x.abort, [this]() noexcept {
      try {
        begin();
      } catch (...) {
        deadline_->fire("");  // out of memory: stop reading, the estimate is charged
      }
    });
  }
}

Unrelayed::~Unrelayed() {
  timer_.cancel();
  if (counted_) unrelayed_now.fetch_sub(1);
}

void Unrelayed::begin() {
  if (x_.stream.caller_left) return;
  x_.stream.caller_left = true;
  counted_ = true;
  const auto seconds = x_.config().abandoned_stream_seconds;
  if (unrelayed_now.fetch_add(1) >= x_.config().max_connections) {
    deadline_->fire("more streams read unrelayed than limits.max_connections");
  } else if (stopping_) {
    deadline_->fire("signgate is stopping");
  } else if (seconds.count() == 0 || x_.config().abandoned_stream_bytes == 0) {
    deadline_->fire("limits.abandoned_stream_* are 0");
  } else {
    timer_.expires_after(seconds);
    // The handler keeps the signal: it may run after this is gone (cancelled, then a no-op).
    timer_.async_wait([signal = deadline_](const boost::system::error_code& ec) {
      if (!ec) signal->fire("past limits.abandoned_stream_seconds");
    });
  }
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
  if (const nlohmann::json* inference = api::field(j, "inferenceConfig")) {  // Converse's, or Nova's own
    if (auto n = count(api::field(*inference, "maxTokens"))) return n;
    if (auto n = count(api::field(*inference, "max_new_tokens"))) return n;
  }
  if (const nlohmann::json* titan = api::field(j, "textGenerationConfig")) {
    if (auto n = count(api::field(*titan, "maxTokenCount"))) return n;
  }
  // OpenAI's (chat and the Responses API, for Bedrock's OpenAI-compatible API) last.
  for (const char* key : {"max_tokens", "maxTokens", "max_gen_len", "max_completion_tokens", "max_output_tokens"}) {
    if (auto n = count(api::field(j, key))) return n;
  }
  return std::nullopt;
}

std::uint64_t estimated_input_tokens(std::string_view body, int max_depth) {
  const nlohmann::json j = api::parse_json(body, max_depth);
  if (j.is_discarded() || j.is_null()) return (body.size() + 3) / 4;
  // Walked with a stack of its own: the body's depth is the caller's choice (within max_depth).
  std::uint64_t text = 0, media = 0;
  std::vector<std::pair<const nlohmann::json*, bool>> todo{{&j, false}};  // value, is it base64 media
  while (!todo.empty()) {
    const auto [v, binary] = todo.back();
    todo.pop_back();
    if (v->is_string()) {
      if (binary && v->get_ref<const std::string&>().size() > 1024) {
        ++media;
      } else {
        text += v->get_ref<const std::string&>().size();
      }
    } else if (v->is_object()) {
      for (const auto& [key, child] : v->items()) {
        // Converse's requestMetadata (signgate's stamp among it) goes to the logs, not the model.
        if (v == &j && key == "requestMetadata") continue;
        // Converse's image/document/video "bytes", Anthropic's base64 source "data".
        todo.emplace_back(&child, key == "bytes" || key == "data");
      }
    } else if (v->is_array()) {
      for (const auto& child : *v) todo.emplace_back(&child, false);
    }
  }
  return (text + 3) / 4 + media * kMediaTokens;
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
  const int depth = x.config().max_json_depth;
  if (!x.audit.input_tokens) x.audit.input_tokens = std::min(estimated_input_tokens(body, depth), kMaxEstimate);
  std::uint64_t output = std::max(x.audit.output_tokens.value_or(0), x.stream.content_events);
  if (output == 0) output = requested_max_tokens(body, depth).value_or(0);
  x.audit.output_tokens = std::min(output, kMaxEstimate);
  // The cache counts Bedrock said before the reading stopped (Anthropic's message_start), else
  // none: an estimate guesses no cache.
  if (!x.audit.cache_read_tokens) x.audit.cache_read_tokens = 0;
  if (!x.audit.cache_write_tokens) x.audit.cache_write_tokens = 0;
}

}  // namespace signgate::gateway
