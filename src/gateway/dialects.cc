// The OpenAI (/v1/chat/completions, /v1/models) and Anthropic (/v1/messages) surfaces:
// translate, call Bedrock through the same access check and signed upstream call as the
// native surface, and answer — errors included — in the caller's dialect.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <set>

#include "api/anthropic/messages.h"
#include "api/openai/chat.h"
#include "api/openai/stream.h"
#include "api/json_depth.h"
#include "aws/model_id.h"
#include "aws/uri.h"
#include "gateway/gateway_internal.h"

namespace signgate::gateway {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxAnswer = 64 * 1024 * 1024;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Bedrock's error (x-amzn-ErrorType + {"message"}) as a status and a message for the caller.
struct BedrockError {
  unsigned status;
  std::string type;  // Bedrock's, e.g. "ValidationException"
  std::string message;
};

BedrockError read_bedrock_error(const http::ResponseHead& head, const std::string& body) {
  std::string type(head.header("x-amzn-ErrorType"));
  if (const auto colon = type.find(':'); colon != std::string::npos) type.resize(colon);
  const json j = api::parse_json(body, api::kDefaultMaxJsonDepth);
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>()
                                                                                          : "Bedrock answered " + std::to_string(head.status);
  unsigned status = head.status;
  if (type == "ModelTimeoutException" || status == 408) status = 504;
  return {status, type, std::move(message)};
}

// Bedrock's error answer as a Refusal in the caller's dialect.
Refusal bedrock_refusal(const BedrockError& e) {
  Refusal r{e.status, e.message};
  r.bedrock_type = e.type;
  r.detail = e.type.empty() ? e.message : e.type;
  if (e.status == 404) r.param = "model";
  r.code = e.type == "ResourceNotFoundException" ? "model_not_found" : e.type;
  if (e.status == 429) r.retry_after = std::chrono::seconds(1);
  return r;
}

// A model ID the translators produced (from the body, or an alias) that Bedrock's grammar
// refuses: "..", "." or worse would become a dot segment in the upstream path.
std::optional<Refusal> refuse_model_id(const std::string& model_id) {
  if (aws::valid_model_id(model_id)) return std::nullopt;
  Refusal r{400, "model: not a Bedrock model ID, inference profile or ARN"};
  r.param = "model";
  r.code = "model_not_found";
  return r;
}

bool has_glob(const std::string& s) { return s.find_first_of("*?") != std::string::npos; }

template <class Translator>
asio::awaitable<bool> relay_events(http::Response& answer, http::Responder& res, Translator& t, std::string& error) {
  aws::eventstream::Decoder decoder;
  bool ok = true;
  for (;;) {
    auto piece = co_await answer.read_some();
    if (!piece) {
      error = "upstream stream broke: " + piece.message();
      co_return co_await res.write(t.error("signgate: " + error));
    }
    if (piece->empty() && answer.done()) {
      if (!decoder.idle()) {
        error = "upstream stream ended inside a frame";
        co_return co_await res.write(t.error("signgate: " + error));
      }
      co_return ok;
    }
    std::string out;
    std::string_view rest = *piece;
    while (!rest.empty()) {
      auto r = decoder.feed(rest);
      if (r.error != aws::eventstream::Error::kNone) {
        error = "upstream sent a corrupt event stream: " + std::string(aws::eventstream::to_string(r.error));
        out += t.error("signgate: " + error);
        co_return co_await res.write(out);
      }
      rest.remove_prefix(r.consumed);
      if (r.message) out += t.on_message(*r.message);
    }
    if (!out.empty() && !co_await res.write(out)) {
      error = "client went away mid-stream";
      co_return false;
    }
  }
}

}  // namespace

asio::awaitable<void> Gateway::openai_chat(std::shared_ptr<const Runtime> rt, const std::string& body, http::Responder& res, Loop& loop, Call& call,
                                           const auth::Client& client) {
  auto parsed = api::openai::to_converse(body, rt->config.models, rt->config.max_json_depth);
  if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) {
    const Refusal refusal{e->status, e->message, e->param, e->code};
    co_await refuse(res, Dialect::kOpenAI, refusal, call);
    co_return;
  }
  const api::openai::ChatRequest& chat = std::get<api::openai::ChatRequest>(parsed);
  const auth::Operation op = chat.stream ? auth::Operation::kConverseStream : auth::Operation::kConverse;
  call.audit.operation = std::string(aws::operation_name(op));
  if (auto refused = refuse_model_id(chat.model_id)) {
    co_await refuse(res, Dialect::kOpenAI, *refused, call);
    co_return;
  }
  call.audit.model = chat.model_id;
  const Access a = authorize(*rt, client, op, chat.model_id, call);
  if (a.refusal) {
    co_await refuse(res, Dialect::kOpenAI, *a.refusal, call);
    co_return;
  }
  aws::HeaderList headers{{"Content-Type", "application/json"},
                          {"Accept", chat.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  const std::string converse_body = dump(chat.converse);
  Upstream up = co_await call_bedrock(*rt, loop, *a.credentials, chat.model_id, op, std::move(headers), converse_body, call);
  if (!up.response) {
    co_await refuse(res, Dialect::kOpenAI, upstream_refusal(up, call), call);
    co_return;
  }
  http::Response& answer = *up.response;
  const std::string id = "chatcmpl-" + call.audit.request_id;
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
  if (answer.status() >= 400) {
    auto text = co_await answer.read_all(1 << 20);
    const Refusal refusal = bedrock_refusal(read_bedrock_error(answer.head(), text ? *text : std::string()));
    co_await refuse(res, Dialect::kOpenAI, refusal, call);
    co_return;
  }
  if (!chat.stream) {
    auto text = co_await answer.read_all(kMaxAnswer);
    bool too_deep = false;
    const json converse = text ? api::parse_json(*text, rt->config.max_json_depth, &too_deep) : json();
    if (!text || !converse.is_object()) {
      // A hostile or prompt-injected answer (a tool input nested 300,000 deep) ends here.
      // Built before the co_await: GCC 12 miscompiles such temporaries inside the expression.
      std::string detail = !text ? "Bedrock's answer broke off: " + text.message()
                                 : too_deep ? "Bedrock's answer nests deeper than limits.max_json_depth"
                                            : "Bedrock's answer is not a JSON object";
      const Refusal refusal{502, "Bedrock's answer could not be read (request " + call.audit.request_id + ")", "", "",
                            "", {}, std::move(detail)};
      co_await refuse(res, Dialect::kOpenAI, refusal, call);
      co_return;
    }
    call.first_byte = SteadyClock::now();
    const std::string out = dump(api::openai::from_converse(converse, chat, id, created));
    call.audit.bytes_out = out.size();
    co_await res.send(200, content_type("application/json"), out);
    co_return;
  }
  metrics_.stream_opened();
  call.first_byte = SteadyClock::now();
  Headers sse = content_type("text/event-stream");
  sse.push_back({"Cache-Control", "no-cache"});
  api::openai::ChunkTranslator translator(chat, id, created);
  if (co_await res.start_stream(200, std::move(sse))) {
    std::string error;
    if (co_await relay_events(answer, res, translator, error)) {
      if (co_await res.write(translator.finish())) co_await res.finish();
    }
    if (!error.empty()) call.audit.error = error;
  }
  if (translator.saw_usage) {
    call.audit.input_tokens = translator.input_tokens;
    call.audit.output_tokens = translator.output_tokens;
  }
  call.audit.bytes_out = res.bytes_written();
  metrics_.stream_closed();
}

asio::awaitable<void> Gateway::openai_models(std::shared_ptr<const Runtime> rt, const http::RequestHead& head, http::Responder& res, Call& call,
                                             const auth::Client& client) {
  // Listing models is cheap, but it is still this client's traffic: it counts against its limit.
  if (auto denial = rt->clients.rate_limit(client)) {
    Refusal r{denial->status, denial->reason};
    r.retry_after = denial->retry_after;
    co_await refuse(res, Dialect::kOpenAI, r, call);
    co_return;
  }
  // The aliases whose model the client may call, then its allowlist entries that name one model.
  std::set<std::string> ids;
  for (const auto& [alias, model] : rt->config.models) {
    if (client.allows_model(model)) ids.insert(alias);
  }
  for (const auto& m : client.models) {
    if (!has_glob(m)) ids.insert(m);
  }
  const auto entry = [](const std::string& model_id) {
    return json{{"id", model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "bedrock"}};
  };
  const std::string_view target = head.target();
  constexpr std::string_view kOne = "/v1/models/";
  if (target.substr(0, kOne.size()) == kOne) {
    const std::string wanted = aws::uri_decode(target.substr(kOne.size(), target.find('?') - kOne.size()));
    if (ids.count(wanted) == 0) {
      const Refusal refusal{404, "The model does not exist or is not allowed for this key", "model",
                            "model_not_found"};
      co_await refuse(res, Dialect::kOpenAI, refusal, call);
      co_return;
    }
    call.audit.status = 200;
    std::string out = dump(entry(wanted));
    call.audit.bytes_out = out.size();
    co_await res.send(200, content_type("application/json"), std::move(out));
    co_return;
  }
  json data = json::array();
  for (const auto& model_id : ids) data.push_back(entry(model_id));
  call.audit.status = 200;
  std::string out = dump(json{{"object", "list"}, {"data", std::move(data)}});
  call.audit.bytes_out = out.size();
  co_await res.send(200, content_type("application/json"), std::move(out));
}

asio::awaitable<void> Gateway::anthropic_messages(std::shared_ptr<const Runtime> rt, const std::string& body, http::Responder& res, Loop& loop,
                                                  Call& call, const auth::Client& client) {
  auto parsed = api::anthropic::to_invoke(body, rt->config.models, rt->config.max_json_depth);
  if (auto* e = std::get_if<api::anthropic::ApiError>(&parsed)) {
    const Refusal refusal{e->status, e->message};
    co_await refuse(res, Dialect::kAnthropic, refusal, call);
    co_return;
  }
  const api::anthropic::MessagesRequest& msg = std::get<api::anthropic::MessagesRequest>(parsed);
  const auth::Operation op = msg.stream ? auth::Operation::kInvokeStream : auth::Operation::kInvoke;
  call.audit.operation = std::string(aws::operation_name(op));
  if (auto refused = refuse_model_id(msg.model_id)) {
    co_await refuse(res, Dialect::kAnthropic, *refused, call);
    co_return;
  }
  call.audit.model = msg.model_id;
  const Access a = authorize(*rt, client, op, msg.model_id, call);
  if (a.refusal) {
    co_await refuse(res, Dialect::kAnthropic, *a.refusal, call);
    co_return;
  }
  aws::HeaderList headers{{"Content-Type", "application/json"},
                          {"Accept", msg.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  Upstream up = co_await call_bedrock(*rt, loop, *a.credentials, msg.model_id, op, std::move(headers), msg.bedrock_body, call);
  if (!up.response) {
    co_await refuse(res, Dialect::kAnthropic, upstream_refusal(up, call), call);
    co_return;
  }
  http::Response& answer = *up.response;
  if (answer.status() >= 400) {
    auto text = co_await answer.read_all(1 << 20);
    const Refusal refusal = bedrock_refusal(read_bedrock_error(answer.head(), text ? *text : std::string()));
    co_await refuse(res, Dialect::kAnthropic, refusal, call);
    co_return;
  }
  if (!msg.stream) {
    auto text = co_await answer.read_all(kMaxAnswer);
    if (!text) {
      const Refusal refusal{502, "Bedrock's answer broke off (request " + call.audit.request_id + ")", "", "", "", {},
                            "Bedrock's answer broke off: " + text.message()};
      co_await refuse(res, Dialect::kAnthropic, refusal, call);
      co_return;
    }
    call.first_byte = SteadyClock::now();
    call.audit.bytes_out = text->size();
    co_await res.send(200, content_type("application/json"), std::move(*text));
    co_return;
  }
  metrics_.stream_opened();
  call.first_byte = SteadyClock::now();
  Headers sse = content_type("text/event-stream");
  sse.push_back({"Cache-Control", "no-cache"});
  api::anthropic::EventUnwrapper unwrapper;
  unwrapper.max_depth = rt->config.max_json_depth;
  if (co_await res.start_stream(200, std::move(sse))) {
    std::string error;
    if (co_await relay_events(answer, res, unwrapper, error)) co_await res.finish();
    if (!error.empty()) call.audit.error = error;
  }
  if (unwrapper.input_tokens != 0) call.audit.input_tokens = unwrapper.input_tokens;
  if (unwrapper.output_tokens != 0) call.audit.output_tokens = unwrapper.output_tokens;
  call.audit.bytes_out = res.bytes_written();
  metrics_.stream_closed();
}

}  // namespace signgate::gateway
