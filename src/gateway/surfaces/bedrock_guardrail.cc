// ApplyGuardrail: POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply, byte
// for byte like the other native operations. A client that has a guardrail of its own may
// apply only that one.
#include "gateway/surfaces/surfaces.h"

#include "gateway/surfaces/passthrough.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;

namespace {

struct GuardrailPath {
  std::string id;
  std::string version;
};

// "/guardrail/{id}/version/{v}/apply" (decoded), or nullopt.
std::optional<GuardrailPath> parse_guardrail_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kPrefix = "/guardrail/", kApply = "/apply";
  if (path.substr(0, kPrefix.size()) != kPrefix || path.size() < kPrefix.size() + kApply.size() ||
      path.substr(path.size() - kApply.size()) != kApply) {
    return std::nullopt;
  }
  path = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kApply.size());
  const auto v = path.rfind("/version/");
  if (v == std::string_view::npos) return std::nullopt;
  GuardrailPath out{uri_decode(path.substr(0, v)), uri_decode(path.substr(v + 9))};
  if (!config::valid_guardrail_id(out.id) || !config::valid_guardrail_version(out.version)) return std::nullopt;
  return out;
}

class BedrockGuardrail final : public Surface {
 public:
  std::string_view name() const override { return "bedrock"; }
  Dialect dialect() const override { return Dialect::kBedrock; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead& head) const override {
    if (!parse_guardrail_path(head.target())) {
      return Refusal{404, "expected /guardrail/{guardrailIdentifier}/version/{DRAFT or a number}/apply", "", "",
                     "UnknownOperationException"};
    }
    return HeadPlan{aws::Operation::kApplyGuardrail, {}, {}};
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead& head,
                                                std::string body) const override {
    const auto g = parse_guardrail_path(head.target());
    if (x.client->guardrail && (x.client->guardrail->id != g->id || x.client->guardrail->version != g->version)) {
      return Refusal{403, "this key may apply only its own guardrail"};
    }
    Plan p;
    p.call.operation = aws::Operation::kApplyGuardrail;
    p.call.path = "/guardrail/";
    uri_encode(g->id, p.call.path);
    p.call.path += "/version/";
    uri_encode(g->version, p.call.path);
    p.call.path += "/apply";
    p.call.headers = forwarded_request_headers(head, p.call.operation);
    p.call.body = std::move(body);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan&, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    return relay_bedrock_answer(x, reply, res);
  }
};

}  // namespace

const Surface& bedrock_guardrail() {
  static const BedrockGuardrail surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
