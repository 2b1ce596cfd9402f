#include "gateway/stream_relay.h"

#include <nlohmann/json.hpp>

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
    const std::uint32_t total = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    if (total < 16 || total > limits_.max_message_bytes) {
      return make_error("event stream frame of " + std::to_string(total) + " bytes");
    }
    if (pending_.size() - off < total) break;
    es::Message m;
    const es::Error e = es::decode_frame(std::string_view(pending_.data() + off, total), m, limits_);
    if (e != es::Error::kNone) return make_error("event stream: " + std::string(es::to_string(e)));
    read_usage(m);
    off += total;
  }
  consumed_ = off;
  return std::string_view(pending_.data(), off);
}

void FrameAligner::read_usage(const es::Message& m) {
  const std::string* type = m.string_header(":event-type");
  if (type == nullptr) return;
  const auto take = [](const nlohmann::json& obj, const char* key, std::optional<std::uint64_t>& into) {
    const auto it = obj.find(key);
    if (it != obj.end() && it->is_number_unsigned()) into = it->get<std::uint64_t>();
  };
  if (*type == "metadata") {
    const auto j = nlohmann::json::parse(m.payload, nullptr, false);
    if (j.is_object() && j.contains("usage") && j["usage"].is_object()) {
      take(j["usage"], "inputTokens", input_tokens);
      take(j["usage"], "outputTokens", output_tokens);
    }
  } else if (*type == "chunk") {
    const auto j = nlohmann::json::parse(m.payload, nullptr, false);
    if (!j.is_object() || !j.contains("bytes") || !j["bytes"].is_string()) return;
    const auto inner_text = base64_decode(j["bytes"].get<std::string>());
    if (!inner_text || inner_text->find("amazon-bedrock-invocationMetrics") == std::string::npos) return;
    const auto inner = nlohmann::json::parse(*inner_text, nullptr, false);
    if (!inner.is_object() || !inner["amazon-bedrock-invocationMetrics"].is_object()) return;
    take(inner["amazon-bedrock-invocationMetrics"], "inputTokenCount", input_tokens);
    take(inner["amazon-bedrock-invocationMetrics"], "outputTokenCount", output_tokens);
  }
}

std::string exception_frame(std::string_view exception_type, std::string_view message) {
  const std::vector<es::Header> headers = {
      {":message-type", es::HeaderValue::string("exception")},
      {":exception-type", es::HeaderValue::string(std::string(exception_type))},
      {":content-type", es::HeaderValue::string("application/json")}};
  const std::string payload = nlohmann::json{{"message", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return es::encode(headers, payload);
}

}  // namespace signgate::gateway
