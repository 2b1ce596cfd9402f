#include "gateway/stream_relay.h"

#include <nlohmann/json.hpp>

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "common/base64.h"

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
  // Only through find(): operator[] on a const object without the key reads past the map
  // (a model whose text mentions amazon-bedrock-invocationMetrics got there; ASan saw it).
  const auto take = [](const nlohmann::json* obj, const char* key, std::optional<std::uint64_t>& into) {
    const nlohmann::json* v = obj != nullptr ? api::field(*obj, key) : nullptr;
    if (v != nullptr && v->is_number_unsigned()) into = v->get<std::uint64_t>();
  };
  if (*type == "metadata") {
    const auto j = api::parse_json(m.payload, api::kDefaultMaxJsonDepth);
    const nlohmann::json* usage = api::field(j, "usage");
    take(usage, "inputTokens", input_tokens);
    take(usage, "outputTokens", output_tokens);
  } else if (*type == "chunk") {
    const auto j = api::parse_json(m.payload, api::kDefaultMaxJsonDepth);
    const nlohmann::json* bytes = api::field(j, "bytes");
    if (bytes == nullptr || !bytes->is_string()) return;
    const auto inner_text = base64_decode(bytes->get<std::string>());
    if (!inner_text) return;
    if (!input_tokens && inner_text->find("\"message_start\"") != std::string::npos) {
      // Anthropic's first event says the input: what an abandoned stream's estimate goes on.
      const auto start = api::parse_json(*inner_text, api::kDefaultMaxJsonDepth);
      const nlohmann::json* message = api::field(start, "message");
      take(message != nullptr ? api::field(*message, "usage") : nullptr, "input_tokens", input_tokens);
    }
    if (inner_text->find("amazon-bedrock-invocationMetrics") == std::string::npos) return;
    const auto inner = api::parse_json(*inner_text, api::kDefaultMaxJsonDepth);
    const nlohmann::json* metrics = api::field(inner, "amazon-bedrock-invocationMetrics");
    take(metrics, "inputTokenCount", input_tokens);
    take(metrics, "outputTokenCount", output_tokens);
  }
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
