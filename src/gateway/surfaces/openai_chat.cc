// POST /v1/chat/completions → Bedrock Converse / ConverseStream: the chat body translated to
// Converse, the answer to chat.completion (or chat.completion.chunk events), errors in
// OpenAI's shape.
#include "gateway/surfaces/surfaces.h"

#include "api/openai/chat.h"
#include "api/openai/stream.h"
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
    auto parsed = api::openai::to_converse(body, x.config().models, x.config().max_json_depth);
    if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) return Refusal{e->status, e->message, e->param, e->code};
    auto state = std::make_unique<ChatState>(std::get<api::openai::ChatRequest>(std::move(parsed)));
    const api::openai::ChatRequest& chat = state->chat;
    note_user(x, chat.user);
    Plan p;
    p.call = converse_call(chat.model_id, chat.stream, chat.converse);
    p.state = std::move(state);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    if (reply.status() >= 400) co_return co_await refusal_from(reply);
    const api::openai::ChatRequest& chat = static_cast<const ChatState&>(*plan.state).chat;
    const std::string id = "chatcmpl-" + x.audit.request_id;
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
    if (!chat.stream) {
      auto read = co_await read_json_answer(x, reply);
      if (auto* refused = std::get_if<Refusal>(&read)) co_return std::move(*refused);
      const json& converse = std::get<json>(read);
      std::string out = dump(api::openai::from_converse(converse, chat, id, created));
      x.audit.bytes_out = out.size();
      co_await res.send(200, content_type("application/json"), std::move(out));
      co_return std::nullopt;
    }
    const OpenStream counted(x.metrics);
    x.first_byte = SteadyClock::now();
    api::openai::ChunkTranslator translator(chat, id, created);
    if (co_await res.start_stream(200, sse_headers())) {
      std::string error;
      if (co_await relay_events(reply, res, translator, error)) {
        if (co_await res.write(translator.finish())) co_await res.finish();
      }
      if (!error.empty()) x.audit.error = error;
    }
    if (translator.saw_usage) {
      x.audit.input_tokens = translator.input_tokens;
      x.audit.output_tokens = translator.output_tokens;
    }
    x.audit.bytes_out = res.bytes_written();
    co_return std::nullopt;
  }
};

}  // namespace

const Surface& openai_chat() {
  static const OpenAIChat surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
