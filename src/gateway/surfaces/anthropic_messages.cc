// POST /v1/messages → Bedrock InvokeModel / InvokeModelWithResponseStream with
// anthropic_version bedrock-2023-05-31: the Messages body passes through less `model` and
// `stream`; stream chunks are unwrapped into Anthropic's SSE events; errors in its shape.
#include "gateway/surfaces/surfaces.h"

#include "api/anthropic/messages.h"
#include "api/service_tier.h"
#include "api/usage.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;

namespace {

class AnthropicMessages final : public Surface {
 public:
  std::string_view name() const override { return "anthropic"; }
  Dialect dialect() const override { return Dialect::kAnthropic; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override { return HeadPlan{}; }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead& head,
                                                std::string body) const override {
    const api::anthropic::Betas betas = requested_betas(x, head);
    auto parsed = api::anthropic::to_invoke(body, x.config().models, x.config().max_json_depth, betas);
    if (auto* e = std::get_if<api::anthropic::ApiError>(&parsed)) return Refusal{e->status, e->message};
    auto& msg = std::get<api::anthropic::MessagesRequest>(parsed);
    count_dropped(x, msg.dropped_betas, msg.model_id);
    Plan p;
    p.call.operation = msg.stream ? aws::Operation::kInvokeStream : aws::Operation::kInvoke;
    p.call.model = std::move(msg.model_id);
    p.call.asked = msg.model_name;
    p.call.headers = {{"Content-Type", "application/json"},
                      {"Accept", msg.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
    // Bedrock refuses a tier the model lacks with a 400, which reaches the caller as Anthropic's.
    if (!msg.service_tier.empty()) p.call.headers.push_back({"X-Amzn-Bedrock-Service-Tier", msg.service_tier});
    p.call.body = std::move(msg.bedrock_body);
    return p;
  }

  // The tier that served, as Bedrock names it: its answer's header, else the one asked for, else
  // its default. Audited (it changes the price).
  static std::string served_tier(Exchange& x, const Plan& plan, const UpstreamReply& reply) {
    std::string tier(reply.head().header("X-Amzn-Bedrock-Service-Tier"));
    if (tier.empty()) {
      for (const auto& h : plan.call.headers) {
        if (h.name == "X-Amzn-Bedrock-Service-Tier") tier = h.value;
      }
    }
    if (!api::tier_word(tier)) tier = "default";
    x.audit.service_tier = tier;
    return tier;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    if (reply.status() >= 400) co_return co_await refusal_from(x, reply);
    const std::string tier = served_tier(x, plan, reply);
    const std::string_view anthropic_tier = api::anthropic::anthropic_service_tier(tier);
    if (plan.call.operation == aws::Operation::kInvoke) {
      auto text = co_await reply.read_all(kMaxAnswer);
      if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
      x.first_byte = SteadyClock::now();
      // Bedrock's headers said the counts (read already); the body adds the 1-hour writes.
      audit_usage(x.audit, api::invoke_answer_usage(*text), true);
      std::string out = api::anthropic::with_service_tier(std::move(*text), anthropic_tier, x.config().max_json_depth);
      x.audit.bytes_out = out.size();
      co_await res.send(200, content_type("application/json"), std::move(out));
      co_return std::nullopt;
    }
    const OpenStream counted(x.metrics);
    x.first_byte = SteadyClock::now();
    api::anthropic::EventUnwrapper unwrapper;
    unwrapper.max_depth = x.config().max_json_depth;
    unwrapper.service_tier = anthropic_tier;
    const bool open = co_await res.start_stream(200, sse_headers());
    std::string error;
    if (co_await relay_events(x, reply, res, unwrapper, error, open)) co_await res.finish();
    if (!error.empty()) x.audit.error = error;
    audit_usage(x.audit, unwrapper.usage);
    x.audit.bytes_out = res.bytes_written();
    co_return std::nullopt;
  }
};

}  // namespace

const Surface& anthropic_messages() {
  static const AnthropicMessages surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
