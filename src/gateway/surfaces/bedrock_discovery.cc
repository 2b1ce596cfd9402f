// Model discovery (discovery: true): GET /foundation-models[/{id}] and /inference-profiles[/{id}],
// signed to Bedrock's control plane (bedrock.{region}.amazonaws.com), each list filtered to the
// models the client's allowlist admits. Claude Code's Bedrock mode asks for the system-defined
// inference profiles at start-up and for one profile's models before counting tokens.
#include "gateway/surfaces/surfaces.h"

#include "api/json_depth.h"
#include "aws/uri.h"
#include "gateway/surfaces/passthrough.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::string_view kFoundationQuery[] = {"byProvider", "byCustomizationType", "byOutputModality",
                                                 "byInferenceType"};
constexpr std::string_view kProfileQuery[] = {"maxResults", "nextToken", "type"};

class BedrockDiscovery final : public Surface {
 public:
  explicit BedrockDiscovery(bool profiles) : profiles_(profiles) {}

  std::string_view name() const override { return "bedrock"; }
  Dialect dialect() const override { return Dialect::kBedrock; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override {
    return HeadPlan{aws::Operation::kDiscovery, {}, {}};
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead& head,
                                                std::string) const override {
    if (!x.config().discovery) {
      return Refusal{404, "model discovery is not enabled on this gateway (discovery: true in its config)", "", "",
                     "UnknownOperationException"};
    }
    const std::string_view target = head.target();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    const std::string_view collection = profiles_ ? "/inference-profiles" : "/foundation-models";
    Plan p;
    p.call.operation = aws::Operation::kDiscovery;
    p.call.method = "GET";
    p.call.control_plane = true;
    p.call.headers = {{"Accept", "application/json"}};
    if (path == collection) {
      p.call.path = std::string(collection);
      p.call.query = profiles_ ? forwarded_query(query, kProfileQuery) : forwarded_query(query, kFoundationQuery);
      return p;
    }
    // One model or profile: the allowlist governs it like a call to it (403 otherwise).
    std::string id = uri_decode(path.substr(collection.size() + 1));
    if (id.empty() || (id.find('/') != std::string::npos && id.rfind("arn:", 0) != 0)) {
      return Refusal{404, "no such path", "", "", "UnknownOperationException"};
    }
    p.call.path = std::string(collection) + "/";
    uri_encode(id, p.call.path);
    p.call.model = std::move(id);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    const http::ResponseHead& head = reply.head();
    Headers headers = content_type("application/json");
    for (const char* name : {"x-amzn-ErrorType", "x-amzn-RequestId"}) {
      if (auto v = head.header(name); !v.empty()) headers.push_back({name, std::string(v)});
    }
    auto text = co_await reply.read_all(kMaxAnswer);
    if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
    std::string out = std::move(*text);
    if (head.status == 200 && plan.call.model.empty()) {
      // A list: keep what the client may call, by ID or ARN.
      bool too_deep = false;
      json j = api::parse_json(out, x.config().max_json_depth, &too_deep);
      const char* list_key = profiles_ ? "inferenceProfileSummaries" : "modelSummaries";
      if (!j.is_object() || !j.contains(list_key) || !j[list_key].is_array()) {
        co_return unreadable_answer(x, std::string("the control plane's answer has no ") + list_key);
      }
      const char* id_key = profiles_ ? "inferenceProfileId" : "modelId";
      const char* arn_key = profiles_ ? "inferenceProfileArn" : "modelArn";
      json kept = json::array();
      for (auto& entry : j[list_key]) {
        const auto allowed = [&](const char* key) {
          return entry.is_object() && entry.contains(key) && entry[key].is_string() &&
                 x.client->allows_model(entry[key].get_ref<const std::string&>());
        };
        if (allowed(id_key) || allowed(arn_key)) kept.push_back(std::move(entry));
      }
      j[list_key] = std::move(kept);
      out = api::dump_json(j);
    }
    x.first_byte = SteadyClock::now();
    x.audit.bytes_out = out.size();
    co_await res.send(head.status, std::move(headers), std::move(out));
    co_return std::nullopt;
  }

 private:
  bool profiles_;
};

}  // namespace

const Surface& bedrock_foundation_models() {
  static const BedrockDiscovery surface(false);
  return surface;
}

const Surface& bedrock_inference_profiles() {
  static const BedrockDiscovery surface(true);
  return surface;
}

}  // namespace signgate::gateway::surfaces
