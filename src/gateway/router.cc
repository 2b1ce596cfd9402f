#include "gateway/router.h"

#include "gateway/surfaces/surfaces.h"

namespace signgate::gateway {

namespace bhttp = boost::beast::http;

namespace {

constexpr Route kRoutes[] = {
    {bhttp::verb::post, "/model/", &surfaces::bedrock_native, OpsEndpoint::kNone, "POST /model/{modelId}/{operation}"},
    {bhttp::verb::post, "/v1/chat/completions", &surfaces::openai_chat, OpsEndpoint::kNone,
     "POST /v1/chat/completions"},
    {bhttp::verb::post, "/v1/responses", &surfaces::openai_responses, OpsEndpoint::kNone, "POST /v1/responses"},
    {bhttp::verb::post, "/v1/embeddings", &surfaces::openai_embeddings, OpsEndpoint::kNone, "POST /v1/embeddings"},
    {bhttp::verb::get, "/v1/models", &surfaces::openai_models, OpsEndpoint::kNone, "GET /v1/models"},
    {bhttp::verb::get, "/v1/models/", &surfaces::openai_models, OpsEndpoint::kNone, ""},
    {bhttp::verb::post, "/v1/messages", &surfaces::anthropic_messages, OpsEndpoint::kNone, "POST /v1/messages"},
    {bhttp::verb::post, "/v1/messages/count_tokens", &surfaces::anthropic_count_tokens, OpsEndpoint::kNone,
     "POST /v1/messages/count_tokens"},
    {bhttp::verb::post, "/guardrail/", &surfaces::bedrock_guardrail, OpsEndpoint::kNone,
     "POST /guardrail/{id}/version/{version}/apply"},
    {bhttp::verb::post, "/async-invoke", &surfaces::bedrock_async, OpsEndpoint::kNone, "POST /async-invoke"},
    {bhttp::verb::get, "/async-invoke", &surfaces::bedrock_async, OpsEndpoint::kNone, "GET /async-invoke[/{arn}]"},
    {bhttp::verb::get, "/async-invoke/", &surfaces::bedrock_async, OpsEndpoint::kNone, ""},
    {bhttp::verb::get, "/foundation-models", &surfaces::bedrock_foundation_models, OpsEndpoint::kNone,
     "GET /foundation-models[/{id}]"},
    {bhttp::verb::get, "/foundation-models/", &surfaces::bedrock_foundation_models, OpsEndpoint::kNone, ""},
    {bhttp::verb::get, "/inference-profiles", &surfaces::bedrock_inference_profiles, OpsEndpoint::kNone,
     "GET /inference-profiles[/{id}]"},
    {bhttp::verb::get, "/inference-profiles/", &surfaces::bedrock_inference_profiles, OpsEndpoint::kNone, ""},
    {bhttp::verb::get, "/healthz", nullptr, OpsEndpoint::kHealthz, ""},
    {bhttp::verb::get, "/readyz", nullptr, OpsEndpoint::kReadyz, ""},
    {bhttp::verb::get, "/metrics", nullptr, OpsEndpoint::kMetrics, ""},
};

bool matches(const Route& r, std::string_view path) {
  if (!r.path.empty() && r.path.back() == '/') {
    return path.size() > r.path.size() && path.substr(0, r.path.size()) == r.path;
  }
  return path == r.path;
}

// A refused path is answered in the dialect its prefix promises.
Dialect dialect_of(std::string_view path) {
  if (path == "/v1/messages" || path.substr(0, 13) == "/v1/messages/") return Dialect::kAnthropic;
  if (path.substr(0, 4) == "/v1/") return Dialect::kOpenAI;
  return Dialect::kBedrock;
}

std::string served_paths() {
  std::string out;
  for (const auto& r : kRoutes) {
    if (r.shown.empty()) continue;
    out += out.empty() ? "" : ", ";
    out += r.shown;
  }
  return out;
}

}  // namespace

Routed route(bhttp::verb method, std::string_view path, bool with_ops) {
  Routed out;
  std::string allow;
  for (const auto& r : kRoutes) {
    if (r.ops != OpsEndpoint::kNone && !with_ops) continue;
    if (!matches(r, path)) continue;
    if (r.method == method) {
      out.route = &r;
      return out;
    }
    const std::string_view m = bhttp::to_string(r.method);
    if (allow.find(m) == std::string::npos) allow += (allow.empty() ? "" : ", ") + std::string(m);
    if (r.surface != nullptr) out.dialect = r.surface().dialect();
  }
  if (!allow.empty()) {
    Refusal r{405, "this path takes " + allow + " only"};
    r.allow = std::move(allow);
    out.refusal = std::move(r);
    return out;
  }
  out.dialect = dialect_of(path);
  static const std::string kServed = "no such path; signgate serves " + served_paths();
  out.refusal = Refusal{404, kServed, "", "not_found", "UnknownOperationException", {}, "no such path"};
  return out;
}

}  // namespace signgate::gateway
