// What the OpenAI translator tests share: a ConverseStream event as Bedrock frames it, and the
// JSON of each `data:` line of the server-sent events a translator wrote.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "aws/eventstream.h"

namespace signgate::api::openai::testing {

inline aws::eventstream::Message converse_event(const std::string& type, const nlohmann::json& payload) {
  namespace es = aws::eventstream;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string(type)}};
  m.payload = payload.dump();
  return m;
}

// "data: {...}\n\n" → the JSON objects ("[DONE]" as that string).
inline std::vector<nlohmann::json> sse_data(const std::string& sse) {
  std::vector<nlohmann::json> out;
  std::size_t at = 0;
  while ((at = sse.find("data: ", at)) != std::string::npos) {
    const auto end = sse.find("\n\n", at);
    const std::string body = sse.substr(at + 6, end - at - 6);
    out.push_back(body == "[DONE]" ? nlohmann::json("[DONE]") : nlohmann::json::parse(body));
    at = end;
  }
  return out;
}

}  // namespace signgate::api::openai::testing
