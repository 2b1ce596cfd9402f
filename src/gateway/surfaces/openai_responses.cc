// POST /v1/responses → Bedrock Converse / ConverseStream: OpenAI's Responses API (Codex, the AI
// SDK's default OpenAI provider, the Agents SDK). The body becomes a Converse request, the
// answer a response object or its typed events. Responses are kept (unless store is false or
// the operator turned the store off) so previous_response_id and item_reference can name them.
#include "gateway/surfaces/surfaces.h"

#include "api/json_fields.h"
#include "api/openai/responses.h"
#include "gateway/response_store.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// The store as the translator sees it: this client's responses only.
class ClientHistory final : public api::openai::ResponseHistory {
 public:
  ClientHistory(const ResponseStore& store, std::string_view client, std::size_t max_bytes)
      : store_(store), client_(client), max_bytes_(max_bytes) {}
  std::variant<json, std::string> conversation(std::string_view id) const override {
    auto items = store_.conversation(client_, id, max_bytes_);
    if (!items) return items.message();
    return std::move(*items);
  }
  std::optional<json> item(std::string_view item_id) const override { return store_.item(client_, item_id); }

 private:
  const ResponseStore& store_;
  std::string_view client_;
  std::size_t max_bytes_;
};

struct ResponsesState final : PlanState {
  explicit ResponsesState(api::openai::ResponsesRequest r) : request(std::move(r)) {}
  api::openai::ResponsesRequest request;
};

class OpenAIResponses final : public Surface {
 public:
  std::string_view name() const override { return "openai"; }
  Dialect dialect() const override { return Dialect::kOpenAI; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override { return HeadPlan{}; }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead&,
                                                std::string body) const override {
    const config::ResponsesConfig& settings = x.config().responses;
    const ClientHistory history(*x.responses, x.client->name, x.config().max_body_bytes);
    auto parsed = api::openai::responses_to_converse(body, x.config().models, settings.store ? &history : nullptr,
                                                     x.config().max_json_depth, x.config().max_body_bytes);
    if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) return Refusal{e->status, e->message, e->param, e->code};
    auto state = std::make_unique<ResponsesState>(std::get<api::openai::ResponsesRequest>(std::move(parsed)));
    const api::openai::ResponsesRequest& request = state->request;
    note_user(x, request.user);
    Plan p;
    p.call = converse_call(request.model_id, request.stream, request.converse);
    p.state = std::move(state);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    if (reply.status() >= 400) co_return co_await refusal_from(reply);
    const api::openai::ResponsesRequest& request = static_cast<const ResponsesState&>(*plan.state).request;
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
    api::openai::ResponseBuilder builder(request, x.audit.request_id, created);
    if (!request.stream) {
      auto read = co_await read_json_answer(x, reply);
      if (auto* refused = std::get_if<Refusal>(&read)) co_return std::move(*refused);
      json response = api::openai::response_from_converse(std::get<json>(read), builder);
      keep(x, request, builder.id(), response["output"]);
      std::string out = dump(response);
      x.audit.bytes_out = out.size();
      co_await res.send(200, content_type("application/json"), std::move(out));
      co_return std::nullopt;
    }
    const OpenStream counted(x.metrics);
    x.first_byte = SteadyClock::now();
    api::openai::ResponseEventTranslator translator(builder);
    if (co_await res.start_stream(200, sse_headers()) && co_await res.write(translator.start())) {
      std::string error;
      if (co_await relay_events(reply, res, translator, error)) {
        if (co_await res.write(translator.finish())) co_await res.finish();
      }
      if (!error.empty()) x.audit.error = error;
    }
    if (translator.completed()) keep(x, request, builder.id(), translator.output());
    if (translator.usage.known) {
      x.audit.input_tokens = translator.usage.input;
      x.audit.output_tokens = translator.usage.output;
    }
    x.audit.bytes_out = res.bytes_written();
    co_return std::nullopt;
  }

 private:
  // Keeps the response (its input and output items) for previous_response_id and item_reference.
  static void keep(Exchange& x, const api::openai::ResponsesRequest& request, const std::string& id,
                   const json& output) {
    if (!request.store || !x.config().responses.store) return;
    json items = request.input_items;
    std::vector<std::string> ids;
    for (const auto& item : output) {
      // A tool call without its id or name (a broken answer) would make every later turn a 400.
      const std::string type = api::string_field(item, "type");
      if ((type == "function_call" || type == "custom_tool_call") &&
          (api::string_field(item, "call_id").empty() || api::string_field(item, "name").empty())) {
        continue;
      }
      ids.push_back(api::string_field(item, "id"));
      items.push_back(item);
    }
    x.responses->put(x.client->name, id, request.previous_response_id, items, ids);
  }
};

}  // namespace

const Surface& openai_responses() {
  static const OpenAIResponses surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
