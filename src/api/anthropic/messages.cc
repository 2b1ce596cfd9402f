#include "api/anthropic/messages.h"
#include "api/json_fields.h"
#include "api/json_scan.h"

#include "common/base64.h"

namespace signgate::api::anthropic {

using nlohmann::json;

json error_body(const ApiError& e) { return {{"type", "error"}, {"error", {{"type", e.type}, {"message", e.message}}}}; }

std::string error_type_for(unsigned status) {
  switch (status) {
    case 400: case 405: case 408: case 431: return "invalid_request_error";
    case 413: return "request_too_large";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return "api_error";
  }
}

std::variant<MessagesRequest, ApiError> to_invoke(std::string_view body, const std::map<std::string, std::string>& aliases,
                                                  int max_depth) {
  bool too_deep = false;
  json req = parse_json(body, max_depth, &too_deep);
  if (too_deep) return ApiError{400, "invalid_request_error", "the body nests deeper than " + std::to_string(max_depth) + " levels"};
  if (req.is_discarded() || !req.is_object()) return ApiError{400, "invalid_request_error", "the body is not a JSON object"};
  if (!req.contains("model") || !req["model"].is_string() || req["model"].get<std::string>().empty()) {
    return ApiError{400, "invalid_request_error", "model: field required"};
  }
  if (!req.contains("messages") || !req["messages"].is_array()) {
    return ApiError{400, "invalid_request_error", "messages: field required"};
  }
  if (!req.contains("max_tokens") || !req["max_tokens"].is_number_integer()) {
    return ApiError{400, "invalid_request_error", "max_tokens: field required"};
  }
  MessagesRequest out;
  out.model_name = req["model"].get<std::string>();
  const auto alias = aliases.find(out.model_name);
  out.model_id = alias != aliases.end() ? alias->second : out.model_name;
  out.stream = bool_field(req, "stream");
  req.erase("model");
  req.erase("stream");
  if (!req.contains("anthropic_version")) req["anthropic_version"] = "bedrock-2023-05-31";
  out.bedrock_body = req.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

std::string EventUnwrapper::on_message(const aws::eventstream::Message& m) {
  const std::string* message_type = m.string_header(":message-type");
  if (message_type != nullptr && *message_type != "event") {
    const std::string* kind = m.string_header(":exception-type");
    const json payload = parse_json(m.payload, max_depth);
    return error((kind != nullptr ? *kind + ": " : std::string()) +
                 (payload.is_object() && payload.contains("message") && payload["message"].is_string()
                      ? payload["message"].get<std::string>()
                      : m.payload));
  }
  const auto bytes = scan_string(m.payload, "bytes");
  if (!bytes) return {};
  const auto inner_text = base64_decode(*bytes);
  if (!inner_text) return error("a stream chunk was not valid base64");
  // Most events pass through as Bedrock wrote them: only the type is read. One on a line of
  // its own, and the last one (which carries Bedrock's metrics), are parsed and rewritten.
  if (inner_text->find_first_of("\r\n") == std::string::npos &&
      inner_text->find("amazon-bedrock-invocationMetrics") == std::string::npos) {
    if (auto type = scan_string(*inner_text, "type"); type && type->find_first_of("\r\n") == std::string::npos) {
      std::string out;
      out.reserve(type->size() + inner_text->size() + 16);
      out.append("event: ").append(*type).append("\ndata: ").append(*inner_text).append("\n\n");
      return out;
    }
  }
  bool too_deep = false;
  json event = parse_json(*inner_text, max_depth, &too_deep);
  if (too_deep) return error("a stream event nests deeper than " + std::to_string(max_depth) + " levels");
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) return {};
  if (event.contains("amazon-bedrock-invocationMetrics")) {
    const json& metrics = event["amazon-bedrock-invocationMetrics"];
    input_tokens = count_field(metrics, "inputTokenCount", input_tokens);
    output_tokens = count_field(metrics, "outputTokenCount", output_tokens);
    event.erase("amazon-bedrock-invocationMetrics");  // Bedrock's, not part of Anthropic's event
  }
  const std::string type = event["type"].get<std::string>();
  if (type.find_first_of("\r\n") != std::string::npos) return {};  // would inject SSE lines
  return "event: " + type + "\ndata: " + event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string EventUnwrapper::error(std::string_view message) {
  return "event: error\ndata: " +
         json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n\n";
}

}  // namespace signgate::api::anthropic
