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
  const json j = json::parse(body, nullptr, false);
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>()
                                                                                          : "Bedrock answered " + std::to_string(head.status);
  unsigned status = head.status;
  if (type == "ModelTimeoutException" || status == 408) status = 504;
  return {status, type, std::move(message)};
}

std::string openai_type_for(unsigned status) {
  switch (status) {
    case 400: case 413: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return "api_error";
  }
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

asio::awaitable<void> Gateway::openai_chat(const http::Request& req, http::Responder& res, Loop& loop, Call& call) {
  call.audit.surface = "openai";
  const auto rt = runtime();
  auto error_reply = [&](unsigned status, std::string message, std::string param, std::string code,
                         Headers extra) -> asio::awaitable<void> {
    call.audit.status = status;
    call.audit.error = message;
    const std::string body = dump(api::openai::error_body({status, openai_type_for(status), std::move(message), std::move(param), std::move(code)}));
    extra.push_back({"Content-Type", "application/json"});
    call.audit.bytes_out = body.size();
    co_await res.send(status, std::move(extra), body);
  };
  auto parsed = api::openai::to_converse(req.body(), rt->config.models);
  if (auto* e = std::get_if<api::openai::ApiError>(&parsed)) {
    co_await error_reply(e->status, e->message, e->param, e->code, Headers{});
    co_return;
  }
  const api::openai::ChatRequest& chat = std::get<api::openai::ChatRequest>(parsed);
  const auth::Operation op = chat.stream ? auth::Operation::kConverseStream : auth::Operation::kConverse;
  call.audit.operation = std::string(auth::operation_name(op));
  call.audit.model = chat.model_id;
  const Access a = access(*rt, req, op, chat.model_id, call);
  if (a.status != 0) {
    Headers extra;
    if (a.status == 429) extra.push_back({"Retry-After", std::to_string(a.retry_after.count())});
    const std::string code = a.status == 401 ? "invalid_api_key" : a.status == 403 ? "model_not_allowed" : "";
    co_await error_reply(a.status, a.message, a.status == 403 ? "model" : "", code, std::move(extra));
    co_return;
  }
  aws::HeaderList headers{{"Content-Type", "application/json"},
                          {"Accept", chat.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  const std::string body = dump(chat.converse);
  Upstream up = co_await call_bedrock(*rt, loop, *a.credentials, chat.model_id, op, std::move(headers), body, call);
  if (!up.response) {
    co_await error_reply(up.status, up.message, "", up.status == 504 ? "timeout" : "", Headers{});
    co_return;
  }
  http::Response& answer = *up.response;
  const std::string id = "chatcmpl-" + call.audit.request_id;
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
  if (answer.status() >= 400) {
    auto text = co_await answer.read_all(1 << 20);
    const BedrockError e = read_bedrock_error(answer.head(), text ? *text : std::string());
    const std::string code = e.type == "ResourceNotFoundException" ? "model_not_found" : e.type;
    Headers extra;
    if (e.status == 429) extra.push_back({"Retry-After", "1"});
    co_await error_reply(e.status, e.message, e.status == 404 ? "model" : "", code, std::move(extra));
    call.audit.error = e.type.empty() ? e.message : e.type;
    co_return;
  }
  if (!chat.stream) {
    auto text = co_await answer.read_all(kMaxAnswer);
    const json converse = text ? json::parse(*text, nullptr, false) : json();
    if (!text || !converse.is_object()) {
      co_await error_reply(502, "Bedrock's answer could not be read", "", "", Headers{});
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

asio::awaitable<void> Gateway::openai_models(const http::Request& req, http::Responder& res, Call& call) {
  call.audit.surface = "openai";
  call.audit.operation = "models";
  const auto rt = runtime();
  const std::string_view secret = auth::secret_from_headers(req[bhttp::field::authorization], req["x-api-key"]);
  const auth::Client* client = nullptr;
  if (auto denial = rt->clients.identify(secret, system_now(), &client)) {
    if (client != nullptr) call.audit.client = client->name;
    call.audit.status = 401;
    call.audit.error = denial->reason;
    std::string body = dump(api::openai::error_body(api::openai::ApiError{401, "authentication_error", denial->reason, "", "invalid_api_key"}));
    co_await res.send(401, content_type("application/json"), std::move(body));
    co_return;
  }
  call.audit.client = client->name;
  // The aliases whose model the client may call, then its allowlist entries that name one model.
  std::set<std::string> ids;
  for (const auto& [alias, model] : rt->config.models) {
    if (client->allows_model(model)) ids.insert(alias);
  }
  for (const auto& m : client->models) {
    if (!has_glob(m)) ids.insert(m);
  }
  const auto entry = [](const std::string& model_id) {
    return json{{"id", model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "bedrock"}};
  };
  const std::string_view target = req.target();
  constexpr std::string_view kOne = "/v1/models/";
  if (target.substr(0, kOne.size()) == kOne) {
    const std::string wanted = aws::uri_decode(target.substr(kOne.size()));
    if (ids.count(wanted) == 0) {
      call.audit.status = 404;
      call.audit.error = "unknown model";
      std::string body = dump(api::openai::error_body(api::openai::ApiError{
          404, "not_found_error", "The model '" + wanted + "' does not exist or is not allowed for this key", "model",
          "model_not_found"}));
      co_await res.send(404, content_type("application/json"), std::move(body));
      co_return;
    }
    call.audit.status = 200;
    std::string body = dump(entry(wanted));
    co_await res.send(200, content_type("application/json"), std::move(body));
    co_return;
  }
  json data = json::array();
  for (const auto& model_id : ids) data.push_back(entry(model_id));
  call.audit.status = 200;
  std::string body = dump(json{{"object", "list"}, {"data", std::move(data)}});
  co_await res.send(200, content_type("application/json"), std::move(body));
}

asio::awaitable<void> Gateway::anthropic_messages(const http::Request& req, http::Responder& res, Loop& loop, Call& call) {
  call.audit.surface = "anthropic";
  const auto rt = runtime();
  auto error_reply = [&](unsigned status, std::string message, Headers extra) -> asio::awaitable<void> {
    call.audit.status = status;
    call.audit.error = message;
    const std::string body = dump(api::anthropic::error_body({status, api::anthropic::error_type_for(status), std::move(message)}));
    extra.push_back({"Content-Type", "application/json"});
    call.audit.bytes_out = body.size();
    co_await res.send(status, std::move(extra), body);
  };
  auto parsed = api::anthropic::to_invoke(req.body(), rt->config.models);
  if (auto* e = std::get_if<api::anthropic::ApiError>(&parsed)) {
    co_await error_reply(e->status, e->message, Headers{});
    co_return;
  }
  const api::anthropic::MessagesRequest& msg = std::get<api::anthropic::MessagesRequest>(parsed);
  const auth::Operation op = msg.stream ? auth::Operation::kInvokeStream : auth::Operation::kInvoke;
  call.audit.operation = std::string(auth::operation_name(op));
  call.audit.model = msg.model_id;
  const Access a = access(*rt, req, op, msg.model_id, call);
  if (a.status != 0) {
    Headers extra;
    if (a.status == 429) extra.push_back({"Retry-After", std::to_string(a.retry_after.count())});
    co_await error_reply(a.status, a.message, std::move(extra));
    co_return;
  }
  aws::HeaderList headers{{"Content-Type", "application/json"},
                          {"Accept", msg.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  Upstream up = co_await call_bedrock(*rt, loop, *a.credentials, msg.model_id, op, std::move(headers), msg.bedrock_body, call);
  if (!up.response) {
    co_await error_reply(up.status, up.message, Headers{});
    co_return;
  }
  http::Response& answer = *up.response;
  if (answer.status() >= 400) {
    auto text = co_await answer.read_all(1 << 20);
    const BedrockError e = read_bedrock_error(answer.head(), text ? *text : std::string());
    Headers extra;
    if (e.status == 429) extra.push_back({"Retry-After", "1"});
    co_await error_reply(e.status, e.message, std::move(extra));
    call.audit.error = e.type.empty() ? e.message : e.type;
    co_return;
  }
  if (!msg.stream) {
    auto text = co_await answer.read_all(kMaxAnswer);
    if (!text) {
      co_await error_reply(502, "Bedrock's answer broke off: " + text.message(), Headers{});
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
