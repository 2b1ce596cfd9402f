// The Bedrock-native surface: POST /model/{modelId}/{operation}, byte for byte. The body and
// Bedrock's own headers for the operation go upstream re-signed; the answer (errors
// included) comes back as Bedrock sent it, event streams frame by frame.
#include "gateway/surfaces/surfaces.h"

#include <boost/asio/use_awaitable.hpp>

#include "gateway/bedrock_path.h"
#include "gateway/surfaces/passthrough.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;

namespace {

class BedrockNative final : public Surface {
 public:
  std::string_view name() const override { return "bedrock"; }
  Dialect dialect() const override { return Dialect::kBedrock; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead& head) const override {
    std::string error;
    auto parsed = parse_model_path(head.target(), &error);
    if (!parsed) return Refusal{404, error, "", "", "UnknownOperationException"};
    return HeadPlan{parsed->operation, std::move(parsed->model_id), {}};
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange&, const HeadPlan& hp, const http::RequestHead& head,
                                                std::string body) const override {
    Plan p;
    p.call.operation = *hp.operation;
    p.call.model = hp.model;
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

const Surface& bedrock_native() {
  static const BedrockNative surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
