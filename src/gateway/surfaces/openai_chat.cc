// POST /v1/chat/completions → Bedrock Converse / ConverseStream: the chat body translated to
// Converse, the answer to chat.completion (or chat.completion.chunk events), errors in
// OpenAI's shape.
#include "gateway/surfaces/surfaces.h"

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/openai/chat.h"
#include "api/openai/stream.h"
#include "gateway/surfaces/openai_upstream.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

struct ChatState final : PlanState {
  explicit ChatState(api::openai::ChatRequest r) : chat(std::move(r)) {}
  api::openai::ChatRequest chat;
};

class OpenAIChat final : public Surface {
 public:
  std::string_view name() const override { return "openai"; }
  Dialect dialect() const override { return Dialect::kOpenAI; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override { return HeadPlan{}; }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead&,
                                                std::string body) const override {
    // A model Bedrock serves through its OpenAI-compatible API: the request goes on as it is.
    if (auto planned = plan_openai(x, body, api::openai::chat_for_openai)) return std::move(*planned);
    auto parsed =
        api::openai::to_converse(body, x.config().models, x.config().max_json_depth, &x.config().model_families);
    if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) return Refusal{e->status, e->message, e->param, e->code};
    auto state = std::make_unique<ChatState>(std::get<api::openai::ChatRequest>(std::move(parsed)));
    const api::openai::ChatRequest& chat = state->chat;
    note_user(x, chat.user);
    Plan p;
    p.call = converse_call(chat.model_id, chat.stream, chat.converse);
    p.call.asked = chat.model_name;
    p.state = std::move(state);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    if (const auto* pass = dynamic_cast<const OpenAIPassState*>(plan.state.get())) {
      co_return co_await answer_openai(x, pass->request, reply, res, {});
    }
    if (reply.status() >= 400) co_return co_await refusal_from(x, reply);
    const api::openai::ChatRequest& chat = static_cast<const ChatState&>(*plan.state).chat;
    const std::string id = "chatcmpl-" + x.audit.request_id;
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
    if (!chat.stream) {
      // Read with simdjson and written directly: no JSON DOM on the answer's way back.
      auto text = co_await reply.read_all(kMaxAnswer);
      if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
      const int depth = x.config().max_json_depth;
      auto done = api::openai::completion_from_converse(*text, chat, id, created, depth);
      if (!done) co_return unusable_json_answer(x, !api::within_depth(*text, depth));
      x.first_byte = SteadyClock::now();
      // Converse says its usage in the body: what the client spent.
      audit_usage(x.audit, done->usage);
      x.audit.bytes_out = done->body.size();
      x.audit.service_tier = std::move(done->service_tier);
      co_await res.send(200, content_type("application/json"), std::move(done->body));
      co_return std::nullopt;
    }
    const OpenStream counted(x.metrics);
    x.first_byte = SteadyClock::now();
    api::openai::ChunkTranslator translator(chat, id, created);
    const bool open = co_await res.start_stream(200, sse_headers());
    std::string error;
    if (co_await relay_events(x, reply, res, translator, error, open)) {
      if (co_await res.write(translator.finish())) co_await res.finish();
    }
    if (!error.empty()) x.audit.error = error;
    // Bedrock's counts, not the caller's prompt_tokens (which include the cache).
    if (translator.saw_usage) audit_usage(x.audit, translator.usage.bedrock);
    x.audit.bytes_out = res.bytes_written();
    x.audit.service_tier = translator.service_tier();
    co_return std::nullopt;
  }
};

}  // namespace

const Surface& openai_chat() {
  static const OpenAIChat surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
