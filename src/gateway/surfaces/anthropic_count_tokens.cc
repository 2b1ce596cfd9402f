// POST /v1/messages/count_tokens → Bedrock CountTokens over the InvokeModel body the request
// would be, answered as Anthropic's {"input_tokens": N}. Claude Code calls it for /context and
// to size its context; without it, it falls back to billed max_tokens:1 calls. CountTokens takes
// foundation model IDs only: a cross-Region profile goes as its model when the client may call
// that, and a model CountTokens refuses is answered with an estimate that errs high
// (estimate_input_tokens), marked x-signgate-token-count: estimated.
#include "gateway/surfaces/surfaces.h"

#include "api/anthropic/messages.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;

namespace {

struct Estimate final : PlanState {
  std::uint64_t tokens = 0;
};

class AnthropicCountTokens final : public Surface {
 public:
  std::string_view name() const override { return "anthropic"; }
  Dialect dialect() const override { return Dialect::kAnthropic; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override {
    return HeadPlan{aws::Operation::kCountTokens, {}, {}};
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead& head,
                                                std::string body) const override {
    const api::anthropic::Betas betas = requested_betas(x, head);
    auto parsed = api::anthropic::to_count_tokens(body, x.config().models, x.config().max_json_depth, betas);
    if (auto* e = std::get_if<api::anthropic::ApiError>(&parsed)) return Refusal{e->status, e->message};
    auto& count = std::get<api::anthropic::CountTokensRequest>(parsed);
    count_dropped(x, count.dropped_betas, count.model_id);
    Plan p;
    p.call.operation = aws::Operation::kCountTokens;
    // Bedrock refuses "us.anthropic..." here but counts its model; the allowlist still decides.
    const std::string bare = api::anthropic::profile_model(count.model_id);
    p.call.model = bare != count.model_id && x.client->allows_model(bare) ? bare : std::move(count.model_id);
    p.call.asked = count.model_name;
    p.call.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    p.call.body = std::move(count.bedrock_body);
    auto estimate = std::make_unique<Estimate>();
    estimate->tokens = count.estimate;
    p.state = std::move(estimate);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    if (reply.status() >= 400) {
      auto error = co_await reply.read_all(1 << 20);
      const std::string body = error ? std::move(*error) : std::string();
      if (!api::anthropic::counting_unsupported(reply.status(), reply.head().header("x-amzn-ErrorType"), body)) {
        co_return bedrock_refusal(reply.head(), body, x.audit.request_id);
      }
      // The model cannot be counted: an estimate that errs high, said to be one.
      std::string out = R"({"input_tokens":)" + std::to_string(static_cast<const Estimate&>(*plan.state).tokens) + "}";
      x.first_byte = SteadyClock::now();
      x.audit.status = 200;
      x.audit.error.clear();
      x.audit.token_count = "estimated";
      x.audit.bytes_out = out.size();
      Headers headers = content_type("application/json");
      headers.push_back({"x-signgate-token-count", "estimated"});
      co_await res.send(200, std::move(headers), std::move(out));
      co_return std::nullopt;
    }
    auto text = co_await reply.read_all(1 << 16);
    if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
    auto out = api::anthropic::from_count_tokens(*text);
    if (!out) co_return unreadable_answer(x, "CountTokens answered without inputTokens");
    x.first_byte = SteadyClock::now();
    x.audit.bytes_out = out->size();
    co_await res.send(200, content_type("application/json"), std::move(*out));
    co_return std::nullopt;
  }
};

}  // namespace

const Surface& anthropic_count_tokens() {
  static const AnthropicCountTokens surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
