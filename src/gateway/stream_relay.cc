#include "gateway/stream_relay.h"

#include <nlohmann/json.hpp>

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/service_tier.h"
#include "common/base64.h"

#include <algorithm>

namespace signgate::gateway {

namespace es = aws::eventstream;

Result<std::string_view> FrameAligner::push(std::string_view piece) {
  if (consumed_ > 0) {
    pending_.erase(0, consumed_);
    consumed_ = 0;
  }
  pending_.append(piece);
  std::size_t off = 0;
  while (pending_.size() - off >= 12) {
    const auto* p = reinterpret_cast<const unsigned char*>(pending_.data() + off);
    const std::uint32_t total =
        (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    if (total < 16 || total > limits_.max_message_bytes) {
      return make_error("event stream frame of " + std::to_string(total) + " bytes");
    }
    if (pending_.size() - off < total) break;
    const es::Error e = es::decode_frame(std::string_view(pending_.data() + off, total), message_, limits_);
    if (e != es::Error::kNone) return make_error("event stream: " + std::string(es::to_string(e)));
    read_usage(message_);
    if (is_content_event(message_)) ++content_events;
    off += total;
  }
  consumed_ = off;
  return std::string_view(pending_.data(), off);
}

void FrameAligner::read_usage(const es::Message& m) {
  const std::string* type = m.string_header(":event-type");
  if (type == nullptr) return;
  if (*type == "metadata") {
    const auto j = api::parse_json(m.payload, api::kDefaultMaxJsonDepth);
    usage.update(api::converse_usage(api::object_field(j, "usage")));
    const std::string tier = api::string_field(api::object_field(j, "serviceTier"), "type");
    if (api::tier_word(tier)) service_tier = tier;
  } else if (*type == "chunk") {
    const auto j = api::parse_json(m.payload, api::kDefaultMaxJsonDepth);
    const nlohmann::json* bytes = api::field(j, "bytes");
    if (bytes == nullptr || !bytes->is_string()) return;
    const auto inner_text = base64_decode(bytes->get<std::string>());
    if (!inner_text) return;
    const bool metrics = inner_text->find("amazon-bedrock-invocationMetrics") != std::string::npos;
    const bool start = inner_text->find("\"message_start\"") != std::string::npos;
    const bool delta = inner_text->find("\"message_delta\"") != std::string::npos;
    if (!metrics && !start && !delta) return;
    const auto inner = api::parse_json(*inner_text, api::kDefaultMaxJsonDepth);
    // Anthropic's first event says the input and the cache (its 1-hour share only there), the
    // message_delta the output so far: what an abandoned stream's estimate goes on.
    const std::string kind = api::string_field(inner, "type");
    if (kind == "message_start")
      usage.update(api::anthropic_usage(api::object_field(api::object_field(inner, "message"), "usage")));
    if (kind == "message_delta") {  // its output only: the input it may repeat is the start's
      if (auto output = api::anthropic_usage(api::object_field(inner, "usage")).output) usage.output = output;
    }
    if (metrics) usage.update(api::invocation_metrics(api::object_field(inner, "amazon-bedrock-invocationMetrics")));
  }
}

void audit_usage(AuditRecord& a, const api::TokenUsage& u, bool only_missing) {
  const auto put = [only_missing](std::optional<std::uint64_t>& into, const std::optional<std::uint64_t>& v) {
    if (v && (!only_missing || !into)) into = v;
  };
  put(a.input_tokens, u.input);
  put(a.output_tokens, u.output);
  put(a.cache_read_tokens, u.cache_read);
  put(a.cache_write_tokens, u.cache_write);
  if (u.cache_write_1h) a.cache_write_1h_tokens = *u.cache_write_1h;
  if (a.input_tokens || a.output_tokens || a.cache_read_tokens || a.cache_write_tokens) {
    if (!a.cache_read_tokens) a.cache_read_tokens = 0;
    if (!a.cache_write_tokens) a.cache_write_tokens = 0;
  }
  a.cache_write_1h_tokens = std::min(a.cache_write_1h_tokens, a.cache_write_tokens.value_or(0));
}

bool is_event_stream(const http::ResponseHead& head) {
  return head.header("content-type").rfind("application/vnd.amazon.eventstream", 0) == 0;
}

bool is_content_event(const es::Message& m) {
  const std::string* type = m.string_header(":event-type");
  return type != nullptr && (*type == "contentBlockDelta" || *type == "chunk");
}

std::string exception_frame(std::string_view exception_type, std::string_view message) {
  const std::vector<es::Header> headers = {{":message-type", es::HeaderValue::string("exception")},
                                           {":exception-type", es::HeaderValue::string(std::string(exception_type))},
                                           {":content-type", es::HeaderValue::string("application/json")}};
  const std::string payload = api::dump_json(nlohmann::json{{"message", message}});
  return es::encode(headers, payload);
}

}  // namespace signgate::gateway
