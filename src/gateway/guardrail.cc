#include "gateway/guardrail.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "api/json_depth.h"
#include "common/strings.h"

namespace signgate::gateway {

using nlohmann::json;

namespace {

// Converse's guardContent blocks tell the guardrail to read only them; for a client held to a
// guardrail they become ordinary blocks, so the guardrail reads everything.
void unwrap_guard_content(json& blocks) {
  if (!blocks.is_array()) return;
  json out = json::array();
  for (auto& b : blocks) {
    const auto g = b.is_object() ? b.find("guardContent") : b.end();
    if (!b.is_object() || g == b.end()) {
      out.push_back(std::move(b));
      continue;
    }
    if (!g->is_object()) continue;
    if (auto t = g->find("text"); t != g->end() && t->is_object() && t->contains("text")) {
      out.push_back({{"text", (*t)["text"]}});
    } else if (auto i = g->find("image"); i != g->end()) {
      out.push_back({{"image", *i}});
    }
  }
  blocks = std::move(out);
}

}  // namespace

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
      // InvokeModel's body may narrow the guardrail to tagged text ("tagSuffix"): not for a
      // client held to one.
      bool too_deep = false;
      json body = api::parse_json(call.body, max_depth, &too_deep);
      if (!body.is_object()) {
        return too_deep ? "the body nests deeper than " + std::to_string(max_depth) + " levels"
                        : std::string("the body is not a JSON object");
      }
      if (body.erase("amazon-bedrock-guardrailConfig") != 0) {
        call.body = api::dump_json(body);
      }
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
      // The caller may still choose to see the guardrail's trace, not what it reads or whether
      // a stream waits for it (streamProcessingMode is left at its default, sync).
      if (auto old = body.find("guardrailConfig"); old != body.end() && old->is_object()) {
        if (auto v = old->find("trace"); v != old->end() && v->is_string()) config["trace"] = *v;
      }
      body["guardrailConfig"] = std::move(config);
      if (auto messages = body.find("messages"); messages != body.end() && messages->is_array()) {
        for (auto& m : *messages) {
          if (m.is_object() && m.contains("content")) unwrap_guard_content(m["content"]);
        }
      }
      if (auto system = body.find("system"); system != body.end()) unwrap_guard_content(*system);
      call.body = api::dump_json(body);
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

}  // namespace signgate::gateway
