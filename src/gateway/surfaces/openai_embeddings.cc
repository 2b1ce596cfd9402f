// POST /v1/embeddings → InvokeModel on Bedrock's embedding models (Titan Text Embeddings,
// Cohere Embed, Nova multimodal embeddings). Titan and Nova embed one text per call, so an
// array fans out: the first call goes through the pipeline like any other, the rest through the
// same upstream and credentials, four at a time. The policy is invoke on that model.
#include "gateway/surfaces/surfaces.h"

#include "api/openai/embeddings.h"
#include "api/service_tier.h"
#include "api/usage.h"
#include "gateway/fan_out.h"
#include "gateway/route_runner.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::size_t kParallelCalls = 4;
constexpr std::size_t kMaxEmbeddingAnswer = 16 * 1024 * 1024;

struct EmbeddingsState final : PlanState {
  explicit EmbeddingsState(api::openai::EmbeddingsRequest r) : request(std::move(r)) {}
  api::openai::EmbeddingsRequest request;
};

// What the calls of one request gather: vectors in input order, tokens, the first failure.
struct Gathered {
  std::vector<std::vector<double>> vectors;
  api::TokenUsage usage;  // summed over the calls
  std::optional<Refusal> failed;
};

class OpenAIEmbeddings final : public Surface {
 public:
  std::string_view name() const override { return "openai"; }
  Dialect dialect() const override { return Dialect::kOpenAI; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override { return HeadPlan{}; }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead&,
                                                std::string body) const override {
    auto parsed =
        api::openai::to_embeddings(body, x.config().models, x.config().max_json_depth, &x.config().model_families);
    if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) return Refusal{e->status, e->message, e->param, e->code};
    auto state = std::make_unique<EmbeddingsState>(std::get<api::openai::EmbeddingsRequest>(std::move(parsed)));
    note_user(x, state->request.user);
    Plan p;
    p.call.operation = aws::Operation::kInvoke;
    p.call.model = state->request.model_id;
    p.call.asked = state->request.model_name;
    p.call.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    p.call.body = state->request.bodies.front();
    p.state = std::move(state);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    const api::openai::EmbeddingsRequest& request = static_cast<const EmbeddingsState&>(*plan.state).request;
    Gathered g;
    g.vectors.resize(request.inputs);
    co_await take(x, request, 0, reply, g);
    if (g.failed) co_return std::move(g.failed);
    co_await for_each_bounded(request.bodies.size() - 1, kParallelCalls,
                              [&x, &plan, &request, &g](std::size_t i) { return call(x, plan, request, i + 1, g); });
    if (g.failed) {
      // The calls Bedrock answered before one failed were billed: they are charged, or a caller
      // could have any number of texts embedded free by adding one Bedrock refuses.
      if (g.usage.input.value_or(0) > 0) {
        api::TokenUsage used;
        used.input = g.usage.input;
        used.output = 0;
        audit_usage(x.audit, used);
        x.billed = true;
      }
      co_return std::move(g.failed);
    }
    x.first_byte = SteadyClock::now();
    const std::uint64_t tokens = g.usage.input.value_or(0);
    api::TokenUsage used;
    used.input = tokens;
    used.output = 0;
    audit_usage(x.audit, used);
    // The tier Bedrock says served the first call (each is asked the same way).
    if (const auto tier = reply.head().header("X-Amzn-Bedrock-Service-Tier"); api::tier_word(tier)) {
      x.audit.service_tier = std::string(tier);
    }
    std::string out = api::openai::embeddings_answer(request, g.vectors, tokens);
    x.audit.bytes_out = out.size();
    co_await res.send(200, content_type("application/json"), std::move(out));
    co_return std::nullopt;
  }

 private:
  // Sends call `index` (after the first) and takes its answer.
  static asio::awaitable<void> call(Exchange& x, const Plan& plan, const api::openai::EmbeddingsRequest& request,
                                    std::size_t index, Gathered& g) {
    if (g.failed) co_return;  // one failed: the answer is a refusal, the rest need not be asked
    UpstreamCall c = plan.call;
    c.body = request.bodies[index];
    UpstreamResult sent = co_await send_call(x, c);
    if (!sent.reply) {
      if (!g.failed) g.failed = failure_refusal(sent.failure, x.audit.request_id);
      co_return;
    }
    co_await take(x, request, index, *sent.reply, g);
  }

  // Reads one call's answer into its place in `g`.
  static asio::awaitable<void> take(Exchange& x, const api::openai::EmbeddingsRequest& request, std::size_t index,
                                    UpstreamReply& reply, Gathered& g) {
    if (reply.status() >= 400) {
      Refusal r = co_await refusal_from(x, reply);
      if (!g.failed) {
        x.audit.upstream_status = reply.status();
        g.failed = std::move(r);
      }
      co_return;
    }
    const std::size_t per_call = api::openai::texts_per_call(request.family);
    const std::size_t first = index * per_call;
    const std::size_t expected = std::min(per_call, request.inputs - first);
    auto text = co_await reply.read_all(kMaxEmbeddingAnswer);
    bool too_deep = false;
    const json answer = text ? api::parse_json(*text, x.config().max_json_depth, &too_deep) : json();
    std::variant<api::openai::EmbeddingBatch, std::string> batch = std::string();
    if (!text) {
      batch = "Bedrock's answer broke off: " + text.message();
    } else if (!answer.is_object()) {
      batch = std::string(too_deep ? "Bedrock's answer nests too deep" : "Bedrock's answer is not a JSON object");
    } else {
      batch = api::openai::read_embeddings(request.family, answer, expected, request.dimension);
    }
    if (auto* why = std::get_if<std::string>(&batch)) {
      if (!g.failed) g.failed = unreadable_answer(x, std::move(*why));
      co_return;
    }
    auto& b = std::get<api::openai::EmbeddingBatch>(batch);
    for (std::size_t k = 0; k < b.vectors.size(); ++k) g.vectors[first + k] = std::move(b.vectors[k]);
    // The body's count where it says one (Titan), else Bedrock's header.
    api::TokenUsage used;
    used.input = b.tokens && *b.tokens <= api::kMaxTokenCount
                     ? b.tokens
                     : api::token_count(reply.head().header("X-Amzn-Bedrock-Input-Token-Count"));
    g.usage.add(used);
  }
};

}  // namespace

const Surface& openai_embeddings() {
  static const OpenAIEmbeddings surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
