#include "gateway/surfaces/openai_upstream.h"

#include "api/json_fields.h"
#include "api/json_scan.h"
#include <boost/asio/this_coro.hpp>

#include "gateway/abandoned.h"
#include "gateway/metrics.h"
#include "gateway/runtime.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

Plan openai_call(const Exchange& x, api::openai::OpenAIUpstreamRequest request) {
  Plan p;
  UpstreamCall& call = p.call;
  call.operation = request.stream ? aws::Operation::kConverseStream : aws::Operation::kConverse;
  call.model = request.model_id;
  call.asked = request.model_name;
  // Mantle: https://bedrock-mantle.{region}.api.aws/openai/v1/... (openai-node 6's Bedrock
  // provider's base URL); bedrock-runtime: /openai/v1/... (Bedrock's user guide,
  // inference-chat-completions.html).
  call.openai_api = true;
  call.mantle = !x.config().openai_models.at(request.model_id);
  call.path = request.api == api::openai::OpenAIApi::kChat ? "/openai/v1/chat/completions" : "/openai/v1/responses";
  call.headers = {{"Content-Type", "application/json"},
                  {"Accept", request.stream ? "text/event-stream" : "application/json"}};
  call.body = std::move(request.body);
  request.body.clear();
  p.state = std::make_unique<OpenAIPassState>(std::move(request));
  return p;
}

}  // namespace

std::optional<std::variant<Plan, LocalAnswer, Refusal>> plan_openai(Exchange& x, std::string_view body,
                                                                    const OpenAIRequestMaker& make) {
  const auto& cfg = x.config();
  if (cfg.openai_models.empty()) return std::nullopt;
  const auto name = api::scan_string(body, "model");  // nullopt: not that far a JSON object
  if (!name) return std::nullopt;
  const auto alias = cfg.models.find(*name);
  const std::string& id = alias != cfg.models.end() ? alias->second : *name;
  if (cfg.openai_models.count(id) == 0) return std::nullopt;
  auto read = api::openai::read_object(body, cfg.max_json_depth);
  if (auto* e = std::get_if<api::openai::ApiError>(&read)) return Refusal{e->status, e->message, e->param, e->code};
  auto planned = make(std::get<json>(read), *name, id);
  if (auto* e = std::get_if<api::openai::ApiError>(&planned)) return Refusal{e->status, e->message, e->param, e->code};
  auto& request = std::get<api::openai::OpenAIUpstreamRequest>(planned);
  note_user(x, request.user);
  return openai_call(x, std::move(request));
}

namespace {

void audit_facts(Exchange& x, const api::openai::OpenAIAnswerFacts& facts) {
  audit_usage(x.audit, facts.usage);
  x.audit.service_tier = facts.service_tier.empty() ? "default" : facts.service_tier;
}

}  // namespace

asio::awaitable<std::optional<Refusal>> answer_openai(Exchange& x, const api::openai::OpenAIUpstreamRequest& r,
                                                      UpstreamReply& reply, http::Responder& res,
                                                      const OnCompleted& completed) {
  if (reply.status() >= 400) {
    auto text = co_await reply.read_all(1 << 20);
    const auto e = api::openai::openai_error(reply.status(), text ? *text : std::string(), x.config().max_json_depth);
    co_return Refusal{e.status, e.message, e.param, e.code, std::string(reply.head().header("x-amzn-ErrorType"))};
  }
  if (!r.stream) {
    auto text = co_await reply.read_all(kMaxAnswer);
    if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
    x.first_byte = SteadyClock::now();
    api::openai::OpenAIAnswerFacts facts;
    auto out = api::openai::openai_answer(*text, r, facts, x.config().max_json_depth);
    if (!out) co_return unusable_json_answer(x, !api::within_depth(*text, x.config().max_json_depth));
    audit_facts(x, facts);
    if (completed && facts.completed) co_await completed(facts);
    x.audit.bytes_out = out->size();
    co_await res.send(200, content_type("application/json"), std::move(*out));
    co_return std::nullopt;
  }
  const OpenStream counted(x.metrics);
  x.first_byte = SteadyClock::now();
  api::openai::SseReader reader;
  api::openai::OpenAIStreamRewriter rewriter(r, x.config().max_json_depth);
  // A caller that leaves is still charged: the rest is read unrelayed for Bedrock's usage, as
  // on the translated surfaces (abandoned.h).
  Unrelayed unrelayed(x, reply, co_await asio::this_coro::executor);
  bool open = co_await res.start_stream(200, sse_headers());
  if (!open) unrelayed.begin();
  bool kept = false;
  // `why` by value: it lives in the coroutine frame, not in the caller's full-expression.
  const auto broke = [&](std::string why) -> asio::awaitable<void> {
    if (unrelayed.active()) {
      unrelayed.failed(why);
      co_return;
    }
    x.audit.error = why;
    if (co_await res.write(rewriter.error("signgate: " + why))) co_await res.finish();
  };
  for (;;) {
    auto piece = co_await reply.read_some();
    if (!piece) {
      co_await broke("upstream stream broke: " + piece.message());
      break;
    }
    if (piece->empty() && reply.done()) {
      if (!reader.idle()) {
        co_await broke("upstream stream ended inside an event");
      } else if (unrelayed.active()) {
        unrelayed.ended();
      } else {
        co_await res.finish();
      }
      break;
    }
    if (unrelayed.active() && !unrelayed.take(piece->size())) break;
    if (!reader.feed(*piece)) {
      co_await broke("an upstream event is larger than signgate reads");
      break;
    }
    std::string out;
    while (auto event = reader.next()) {
      out += rewriter.on_event(*event);  // unrelayed too: the rewriter reads the usage
      // Kept before the caller reads that it completed, so its next turn finds it anywhere.
      if (completed && rewriter.facts.completed && !kept) {
        kept = true;
        co_await completed(rewriter.facts);
      }
    }
    x.stream.content_events = rewriter.facts.content_events;
    if (!unrelayed.active() && !out.empty() && !co_await res.write(out)) unrelayed.begin();
  }
  if (!rewriter.facts.failure.empty() && x.audit.error.empty()) x.audit.error = rewriter.facts.failure;
  audit_facts(x, rewriter.facts);
  x.audit.bytes_out = res.bytes_written();
  co_return std::nullopt;
}

}  // namespace signgate::gateway::surfaces
