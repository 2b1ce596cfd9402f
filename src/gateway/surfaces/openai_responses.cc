// POST /v1/responses → Bedrock Converse / ConverseStream: OpenAI's Responses API (Codex, the AI
// SDK's default OpenAI provider, the Agents SDK). The body becomes a Converse request, the
// answer a response object or its typed events. Responses are kept (unless store is false or
// the operator turned the store off) so previous_response_id and item_reference can name them.
#include "gateway/surfaces/surfaces.h"

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "api/openai/responses.h"
#include "gateway/response_store.h"
#include "gateway/surfaces/openai_upstream.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// The store as the translator sees it: this client's responses only. This replica's copy
// answers first, then what the fleet's store was asked for (`recalled`); what neither holds is
// noted in `wanted` when the fleet's store may hold it, and the request is planned again once
// it was asked.
class ClientHistory final : public api::openai::ResponseHistory {
 public:
  ClientHistory(const ResponseStore& store, std::string_view client, std::size_t max_bytes, const Recalled& recalled,
                Wanted* wanted)
      : store_(store), client_(client), max_bytes_(max_bytes), recalled_(recalled), wanted_(wanted) {}

  std::variant<json, std::string> conversation(std::string_view id) const override {
    auto items = store_.conversation(client_, id, max_bytes_);
    if (items) return std::move(*items);
    if (items.kind() != ErrorKind::kNotFound) return items.message();
    if (const auto it = recalled_.conversations.find(id); it != recalled_.conversations.end()) return it->second;
    if (wanted_ != nullptr) wanted_->conversation = std::string(id);
    return items.message();
  }

  std::optional<json> item(std::string_view item_id) const override {
    if (auto here = store_.item(client_, item_id)) return here;
    if (const auto it = recalled_.items.find(item_id); it != recalled_.items.end()) return it->second;
    if (wanted_ != nullptr) wanted_->add_item(item_id);
    return std::nullopt;
  }

 private:
  const ResponseStore& store_;
  std::string_view client_;
  std::size_t max_bytes_;
  const Recalled& recalled_;
  Wanted* wanted_;
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
    return plan_with(x, body, {}, nullptr);
  }

  // With a fleet, what this replica does not hold is asked of the shared store, and the
  // request planned again with it: at most a few rounds (each asks only for what the last
  // one found missing; a request names at most a bounded number of stored items).
  bool plans_async() const override { return true; }
  asio::awaitable<std::variant<Plan, LocalAnswer, Refusal>> plan_async(Exchange& x, const HeadPlan&,
                                                                       const http::RequestHead&,
                                                                       std::string body) const override {
    if (!x.memory->shared() || !x.config().responses.store) co_return plan_with(x, body, {}, nullptr);
    Recalled recalled;
    for (int round = 0;; ++round) {
      Wanted wanted;
      auto planned = plan_with(x, body, recalled, round < kMaxRecalls ? &wanted : nullptr);
      if (wanted.empty()) co_return planned;
      // The translator stops at the first thing it lacks: ask for everything the body names
      // at once, so one round trip is the rule.
      if (round == 0) add_references(x, body, recalled, wanted);
      auto fetched = co_await x.memory->recall(x.client->name, wanted, x.config().max_body_bytes, recalled);
      if (!fetched && fetched.kind() == ErrorKind::kTooLarge) co_return Refusal{400, fetched.message(), "input"};
      if (!fetched) {
        std::string param = wanted.conversation.empty() ? "input" : "previous_response_id";
        co_return Refusal{503,
                          "the store of earlier responses that signgate's replicas share did not answer; retry",
                          std::move(param),
                          "",
                          "",
                          std::chrono::seconds(1)};
      }
    }
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    if (const auto* pass = dynamic_cast<const OpenAIPassState*>(plan.state.get())) {
      const api::openai::OpenAIUpstreamRequest& r = pass->request;
      const OnCompleted completed = [&x, &r](const api::openai::OpenAIAnswerFacts& facts) -> asio::awaitable<void> {
        if (facts.response_id.empty()) co_return;
        co_await keep_items(x, r.store, r.input_items, r.previous_response_id, facts.response_id, facts.output);
      };
      co_return co_await answer_openai(x, r, reply, res, completed);
    }
    if (reply.status() >= 400) co_return co_await refusal_from(x, reply);
    const api::openai::ResponsesRequest& request = static_cast<const ResponsesState&>(*plan.state).request;
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
    api::openai::ResponseBuilder builder(request, x.audit.request_id, created);
    if (!request.stream) {
      auto read = co_await read_json_answer(x, reply);
      if (auto* refused = std::get_if<Refusal>(&read)) co_return std::move(*refused);
      json response = api::openai::response_from_converse(std::get<json>(read), builder);
      x.audit.service_tier = response["service_tier"].get<std::string>();
      co_await keep(x, request, builder.id(), response["output"]);
      std::string out = api::dump_json(response);
      x.audit.bytes_out = out.size();
      co_await res.send(200, with_dropped(request, content_type("application/json")), std::move(out));
      co_return std::nullopt;
    }
    const OpenStream counted(x.metrics);
    x.first_byte = SteadyClock::now();
    api::openai::ResponseEventTranslator translator(builder);
    bool open = co_await res.start_stream(200, with_dropped(request, sse_headers()));
    const std::string first = translator.start();  // response.created
    if (open) open = co_await res.write(first);
    std::string error;
    if (co_await relay_events(x, reply, res, translator, error, open)) {
      std::string last = translator.finish();  // response.completed
      // Kept before the caller reads that it completed, so its next turn finds it anywhere.
      if (translator.completed()) co_await keep(x, request, builder.id(), translator.output());
      if (co_await res.write(last)) co_await res.finish();
    }
    if (!error.empty()) x.audit.error = error;
    // Bedrock's counts, not the caller's input_tokens (which include the cache).
    if (translator.usage.known) audit_usage(x.audit, translator.usage.bedrock);
    x.audit.service_tier =
        builder.served_tier().empty() ? std::string(api::tier_name(request.tier)) : builder.served_tier();
    x.audit.bytes_out = res.bytes_written();
    co_return std::nullopt;
  }

 private:
  static constexpr int kMaxRecalls = 4;

  // The caller's built-in tools signgate dropped, named for it (plain words: responses_tools.cc).
  static Headers with_dropped(const api::openai::ResponsesRequest& request, Headers h) {
    if (request.tools.dropped_tools.empty()) return h;
    std::string names;
    for (const auto& t : request.tools.dropped_tools) {
      if (!names.empty()) names += ", ";
      names += t;
    }
    h.push_back({"x-signgate-dropped-tools", std::move(names)});
    return h;
  }
  static constexpr std::size_t kMaxNamed = 1000;  // stored items one request may name (the translator's too)

  // The stored response and items `body` names (previous_response_id; item_reference and
  // reasoning items by id) that neither this replica nor an earlier round holds.
  static void add_references(const Exchange& x, std::string_view body, const Recalled& recalled, Wanted& wanted) {
    const json req = api::parse_json(body, x.config().max_json_depth);
    if (!req.is_object()) return;
    const ResponseStore& here = x.memory->responses();
    const std::string& client = x.client->name;
    if (wanted.conversation.empty()) {
      const std::string previous = api::string_field(req, "previous_response_id");
      if (!previous.empty() && recalled.conversations.count(previous) == 0 &&
          !here.conversation(client, previous, x.config().max_body_bytes)) {
        wanted.conversation = previous;
      }
    }
    const json* input = api::field(req, "input");
    if (input == nullptr || !input->is_array()) return;
    for (const auto& item : *input) {
      if (wanted.items.size() >= kMaxNamed) break;
      const std::string type = api::string_field(item, "type");
      const json* sealed = api::field(item, "encrypted_content");
      if (type != "item_reference" && (type != "reasoning" || (sealed != nullptr && !sealed->is_null()))) {
        continue;
      }
      const std::string id = api::string_field(item, "id");
      if (id.empty() || recalled.items.count(id) != 0 || here.item(client, id)) continue;
      wanted.add_item(id);
    }
  }

  std::variant<Plan, LocalAnswer, Refusal> plan_with(Exchange& x, std::string_view body, const Recalled& recalled,
                                                     Wanted* wanted) const {
    const config::ResponsesConfig& settings = x.config().responses;
    const ClientHistory history(x.memory->responses(), x.client->name, x.config().max_body_bytes, recalled, wanted);
    // A model Bedrock serves through its OpenAI-compatible API: the request goes on as it is,
    // its earlier turns expanded from this client's store.
    const auto for_openai = [&](const json& req, const std::string& name, const std::string& id) {
      return api::openai::responses_for_openai(req, name, id, settings.store ? &history : nullptr,
                                               x.config().max_body_bytes);
    };
    if (auto planned = plan_openai(x, body, for_openai)) return std::move(*planned);
    api::openai::ResponsesOptions options;
    options.max_depth = x.config().max_json_depth;
    options.max_stored_bytes = x.config().max_body_bytes;
    options.refuse_hosted_tools = settings.refuse_hosted_tools;
    options.families = &x.config().model_families;
    auto parsed =
        api::openai::responses_to_converse(body, x.config().models, settings.store ? &history : nullptr, options);
    if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) return Refusal{e->status, e->message, e->param, e->code};
    auto state = std::make_unique<ResponsesState>(std::get<api::openai::ResponsesRequest>(std::move(parsed)));
    const api::openai::ResponsesRequest& request = state->request;
    note_user(x, request.user);
    x.audit.dropped_tools = request.tools.dropped_tools;
    Plan p;
    p.call = converse_call(request.model_id, request.stream, request.converse);
    p.call.asked = request.model_name;
    p.state = std::move(state);
    return p;
  }

  // Keeps the response (its input and output items) for previous_response_id and item_reference,
  // before the caller can name it: a next request to any replica finds it.
  static asio::awaitable<void> keep(Exchange& x, const api::openai::ResponsesRequest& request, const std::string& id,
                                    const json& output) {
    co_await keep_items(x, request.store, request.input_items, request.previous_response_id, id, output);
  }

  static asio::awaitable<void> keep_items(Exchange& x, bool store, const json& input_items,
                                          const std::string& previous_response_id, const std::string& id,
                                          const json& output) {
    if (!store || !x.config().responses.store) co_return;
    json items = input_items;
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
    co_await x.memory->keep_response(x.client->name, id, previous_response_id, items, ids);
  }
};

}  // namespace

const Surface& openai_responses() {
  static const OpenAIResponses surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
