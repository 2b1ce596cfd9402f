#include "gateway/guardrail.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "api/json_depth.h"
#include "common/strings.h"

namespace signgate::gateway {

using nlohmann::json;

std::optional<std::string> enforce_guardrail(UpstreamCall& call, const config::GuardrailConfig& g, int max_depth) {
  switch (call.operation) {
    case aws::Operation::kInvoke:
    case aws::Operation::kInvokeStream: {
      auto& h = call.headers;
      h.erase(std::remove_if(h.begin(), h.end(),
                             [](const http::Header& x) {
                               return iequals(x.name, "x-amzn-bedrock-guardrailidentifier") ||
                                      iequals(x.name, "x-amzn-bedrock-guardrailversion");
                             }),
              h.end());
      h.push_back({"X-Amzn-Bedrock-GuardrailIdentifier", g.id});
      h.push_back({"X-Amzn-Bedrock-GuardrailVersion", g.version});
      return std::nullopt;
    }
    case aws::Operation::kConverse:
    case aws::Operation::kConverseStream: {
      bool too_deep = false;
      json body = api::parse_json(call.body, max_depth, &too_deep);
      if (!body.is_object()) {
        return too_deep ? "the body nests deeper than " + std::to_string(max_depth) + " levels"
                        : std::string("the body is not a JSON object");
      }
      json config = {{"guardrailIdentifier", g.id}, {"guardrailVersion", g.version}};
      // The caller may still choose how it sees the guardrail's work, not whether it runs.
      if (auto old = body.find("guardrailConfig"); old != body.end() && old->is_object()) {
        for (const char* keep : {"trace", "streamProcessingMode"}) {
          if (auto v = old->find(keep); v != old->end() && v->is_string()) config[keep] = *v;
        }
      }
      if (call.operation == aws::Operation::kConverse) config.erase("streamProcessingMode");
      body["guardrailConfig"] = std::move(config);
      call.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

}  // namespace signgate::gateway
