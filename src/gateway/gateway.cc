#include "gateway/gateway.h"

#include "gateway/gateway_internal.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include <random>
#include <variant>

#include "common/strings.h"
#include "gateway/bedrock_path.h"
#include "gateway/stream_relay.h"

namespace signgate::gateway {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using Clock = SteadyClock;

namespace {

constexpr std::size_t kMaxUnstreamedAnswer = 64 * 1024 * 1024;

}  // namespace

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) id[static_cast<std::size_t>(half * 16 + i)] = kHex[v & 15];
  }
  return id;
}

std::string role_session(const aws::RoleSettings& role) {
  if (role.role_arn.empty()) return "base credentials";
  return role.role_arn + "/" + aws::sanitize_session_name(role.session_name);
}

namespace {

bool is_bedrock_header(std::string_view name) {
  constexpr std::string_view kPrefix = "x-amzn-bedrock-";
  return name.size() > kPrefix.size() && iequals(name.substr(0, kPrefix.size()), kPrefix);
}

bool forwarded_response_header(std::string_view name) {
  return iequals(name, "content-type") || iequals(name, "x-amzn-errortype") || iequals(name, "x-amzn-requestid") ||
         iequals(name, "retry-after") ||
         is_bedrock_header(name);
}

}  // namespace

std::optional<std::uint64_t> to_count(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

namespace {

}  // namespace


Result<std::shared_ptr<const Runtime>> build_runtime(config::Config cfg, aws::CredentialManager& credentials,
                                                     const Runtime* previous) {
  auto rt = std::make_shared<Runtime>();
  std::string error;
  auto url = http::parse_url(cfg.aws.bedrock_url(), &error);
  if (!url) return make_error(cfg.source + ": aws.bedrock_endpoint: " + error);
  rt->bedrock = std::move(*url);
  rt->clients = auth::ClientTable::from_config(cfg, previous != nullptr ? &previous->clients : nullptr);
  rt->default_identity = credentials.identity(cfg.aws.role);
  for (const auto& c : rt->clients.clients()) rt->identity_by_client[c.name] = credentials.identity(c.role);
  rt->config = std::move(cfg);
  return std::shared_ptr<const Runtime>(std::move(rt));
}

Gateway::Gateway(std::shared_ptr<const Runtime> runtime, AuditLog& audit, Metrics& metrics)
    : audit_(audit), metrics_(metrics), runtime_(std::move(runtime)) {}

Gateway::~Gateway() = default;

void Gateway::attach(http::Server& server, const http::ClientOptions& upstream) {
  for (std::size_t i = 0; i < server.loops(); ++i) {
    auto loop = std::make_unique<Loop>();
    loop->client = std::make_unique<http::Client>(server.loop(i).get_executor(), upstream);
    loops_.push_back(std::move(loop));
  }
}

void Gateway::detach() { loops_.clear(); }

void Gateway::swap(std::shared_ptr<const Runtime> runtime) {
  std::lock_guard lock(mutex_);
  runtime_ = std::move(runtime);
}

std::shared_ptr<const Runtime> Gateway::runtime() const {
  std::lock_guard lock(mutex_);
  return runtime_;
}

bool Gateway::ready(std::string* why) const {
  const auto rt = runtime();
  std::vector<std::shared_ptr<aws::CredentialCache>> caches{rt->default_identity};
  for (const auto& [name, cache] : rt->identity_by_client) caches.push_back(cache);
  for (const auto& cache : caches) {
    auto c = cache->current();
    if (!c) {
      if (why != nullptr) *why = c.message();
      return false;
    }
  }
  return true;
}

http::Handler Gateway::handler(bool with_ops) {
  return [this, with_ops](const http::RequestHead& head, http::BodyReader& body, http::Responder& res,
                          std::size_t loop) { return handle(head, body, res, loop, with_ops); };
}

http::Handler Gateway::ops_handler() {
  return [this](const http::RequestHead& head, http::BodyReader&, http::Responder& res,
                std::size_t) -> asio::awaitable<void> {
    if (!co_await ops(head, res)) {
      co_await res.send(404, content_type("application/json"),
                        std::string(R"({"message":"the ops listener serves GET /healthz, /readyz and /metrics"})"));
    }
  };
}

http::Rejected Gateway::rejected() {
  return [this](unsigned status, const std::string& reason) {
    Call call;
    call.audit.ts = system_now();
    call.audit.request_id = new_request_id();
    call.audit.surface = "http";
    call.audit.status = status;
    call.audit.error = reason;
    finish(call);
  };
}

void Gateway::finish(Call& call) {
  const auto end = Clock::now();
  call.audit.latency_ms = std::chrono::duration<double, std::milli>(end - call.start).count();
  std::optional<double> first_byte_seconds;
  if (call.first_byte) {
    call.audit.first_byte_ms = std::chrono::duration<double, std::milli>(*call.first_byte - call.start).count();
    first_byte_seconds = *call.audit.first_byte_ms / 1000;
  }
  static const std::string kNone;
  metrics_.request(call.audit.client, call.audit.surface, call.audit.operation,
                   call.model_allowed ? call.audit.model : kNone, call.audit.status, call.audit.latency_ms / 1000,
                   first_byte_seconds);
  audit_.record(std::move(call.audit));
}

asio::awaitable<void> Gateway::refuse(http::Responder& res, Dialect dialect, const Refusal& r, Call& call) {
  call.audit.status = r.status;
  call.audit.error = r.detail.empty() ? r.message : r.detail;
  Rendered out = render(dialect, r, call.audit.request_id);
  call.audit.bytes_out = out.body.size();
  co_await res.send(out.status, std::move(out.headers), std::move(out.body));
}

namespace {

bool is_ops_request(const http::RequestHead& head) {
  const std::string_view target = head.target();
  const std::string_view path = target.substr(0, target.find('?'));
  return head.method() == bhttp::verb::get && (path == "/healthz" || path == "/readyz" || path == "/metrics");
}

}  // namespace

asio::awaitable<bool> Gateway::ops(const http::RequestHead& head, http::Responder& res) {
  if (!is_ops_request(head)) co_return false;
  const std::string_view target = head.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    co_await res.send(200, content_type("application/json"), std::string(R"({"status":"ok"})"));
  } else if (path == "/readyz") {
    std::string why;
    if (ready(&why)) {
      co_await res.send(200, content_type("application/json"), std::string(R"({"status":"ready"})"));
    } else {
      // The reason names roles, accounts and STS's words: the log has it, not the caller.
      static std::atomic<std::int64_t> last_logged{0};
      const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
      if (std::int64_t seen = last_logged.load(); now - seen >= 10 && last_logged.compare_exchange_strong(seen, now)) {
        spdlog::warn("not ready: {}", why);
      }
      co_await res.send(503, content_type("application/json"),
                        std::string(R"({"status":"not ready","reason":"no valid AWS credentials; see the gateway's log"})"));
    }
  } else {
    const auto rt = runtime();
    std::vector<IdentityMetrics> ids{{role_session(rt->default_identity->role()), rt->default_identity->status()}};
    for (const auto& [name, cache] : rt->identity_by_client) {
      const std::string rs = role_session(cache->role());
      if (std::none_of(ids.begin(), ids.end(), [&](const auto& m) { return m.role_session == rs; })) {
        ids.push_back({rs, cache->status()});
      }
    }
    std::string body = metrics_.render(ids, system_now());
    co_await res.send(200, content_type("text/plain; version=0.0.4"), std::move(body));
  }
  co_return true;
}

namespace {

// The values of one header field (at most two are needed to tell "more than one").
std::vector<std::string_view> field_values(const http::RequestHead& head, std::string_view name) {
  std::vector<std::string_view> out;
  const auto range = head.equal_range(name);
  for (auto f = range.first; f != range.second && out.size() < 2; ++f) out.push_back(f->value());
  return out;
}

Refusal body_refusal(http::BodyError e, std::uint64_t limit) {
  switch (e) {
    case http::BodyError::kTooLarge: return {413, "request body larger than " + std::to_string(limit) + " bytes"};
    case http::BodyError::kTimeout: return {408, "request body not received in time"};
    case http::BodyError::kMalformed: return {400, "malformed request body (chunk framing or size)"};
    default: return {400, "the client closed the connection before the whole body arrived"};
  }
}

// Only the headers Bedrock's API defines for the operation are signed and forwarded
// (botocore's bedrock-runtime model): a caller cannot set other upstream options.
bool forwarded_request_header(std::string_view name, auth::Operation op) {
  if (iequals(name, "content-type") || iequals(name, "accept")) return true;
  if (op != auth::Operation::kInvoke && op != auth::Operation::kInvokeStream) return false;
  static constexpr std::string_view kInvokeHeaders[] = {
      "x-amzn-bedrock-accept",          "x-amzn-bedrock-trace",
      "x-amzn-bedrock-guardrailidentifier", "x-amzn-bedrock-guardrailversion",
      "x-amzn-bedrock-performanceconfig-latency", "x-amzn-bedrock-service-tier"};
  return std::any_of(std::begin(kInvokeHeaders), std::end(kInvokeHeaders),
                     [&](std::string_view h) { return iequals(name, h); });
}

}  // namespace

Refusal upstream_refusal(const Gateway::Upstream& up, const Gateway::Call& call) {
  spdlog::warn("request {}: {}", call.audit.request_id, up.message);
  const bool timeout = up.status == 504;
  return Refusal{up.status,
                 std::string(timeout ? "Bedrock did not answer in time" : "Bedrock could not be reached") +
                     " (request " + call.audit.request_id + ")",
                 "", timeout ? "timeout" : "", timeout ? "ModelTimeoutException" : "ServiceUnavailableException", {},
                 up.message};
}

asio::awaitable<void> Gateway::handle(const http::RequestHead& head, http::BodyReader& body, http::Responder& res,
                                      std::size_t loop_index, bool with_ops) {
  if (with_ops && is_ops_request(head)) {  // checked first: no coroutine frame per request for it
    co_await ops(head, res);
    co_return;
  }
  const auto rt = runtime();
  const std::string_view target = head.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool post = head.method() == bhttp::verb::post;
  Call call;
  call.audit.ts = system_now();
  call.audit.request_id = new_request_id();

  // 1. Route and read what the head says (the operation and, natively, the model).
  enum class Route { kNative, kChat, kModels, kMessages, kNone } route = Route::kNone;
  Dialect dialect = Dialect::kBedrock;
  if (path.substr(0, 7) == "/model/") {
    route = Route::kNative;
    call.audit.surface = "bedrock";
  } else if (post && path == "/v1/chat/completions") {
    route = Route::kChat;
    dialect = Dialect::kOpenAI;
    call.audit.surface = "openai";
  } else if (head.method() == bhttp::verb::get && (path == "/v1/models" || path.substr(0, 11) == "/v1/models/")) {
    route = Route::kModels;
    dialect = Dialect::kOpenAI;
    call.audit.surface = "openai";
    call.audit.operation = "models";
  } else if (post && path == "/v1/messages") {
    route = Route::kMessages;
    dialect = Dialect::kAnthropic;
    call.audit.surface = "anthropic";
  }
  if (route == Route::kNone) {
    call.audit.surface = "http";
    const Refusal refusal{404,
                          "no such path; signgate serves POST /v1/chat/completions, GET /v1/models, "
                          "POST /v1/messages and POST /model/{modelId}/{operation}",
                          "", "", "UnknownOperationException", {}, "no such path"};
    co_await refuse(res, Dialect::kBedrock, refusal, call);
    finish(call);
    co_return;
  }
  std::optional<ModelCall> native_call;
  if (route == Route::kNative) {
    std::string error;
    native_call = parse_model_path(target, &error);
    if (!native_call) {
      const Refusal refusal{404, error, "", "", "UnknownOperationException"};
      co_await refuse(res, dialect, refusal, call);
      finish(call);
      co_return;
    }
    call.audit.operation = std::string(aws::operation_name(native_call->operation));
    call.audit.model = native_call->model_id;
    if (!post) {
      const Refusal refusal{405, "Bedrock runtime operations are POST"};
      co_await refuse(res, dialect, refusal, call);
      finish(call);
      co_return;
    }
  }

  // 2. Authenticate from the head: no body byte has been read, no 100 Continue sent.
  auto presented = auth::secret_from_headers(field_values(head, "authorization"), field_values(head, "x-api-key"));
  if (auto* denial = std::get_if<auth::Denial>(&presented)) {
    const Refusal refusal{denial->status, denial->reason, "", denial->status == 401 ? "invalid_api_key" : ""};
    co_await refuse(res, dialect, refusal, call);
    finish(call);
    co_return;
  }
  const auth::Client* client = nullptr;
  if (auto denial = rt->clients.identify(std::get<std::string_view>(presented), system_now(), &client)) {
    if (client != nullptr) call.audit.client = client->name;
    const Refusal refusal{denial->status, denial->reason, "", "invalid_api_key"};
    co_await refuse(res, dialect, refusal, call);
    finish(call);
    co_return;
  }
  call.audit.client = client->name;

  // 3. Only now the body, up to the limit.
  std::string bytes;
  if (post || body.announced()) {
    http::Body b = co_await body.read(rt->config.max_body_bytes);
    if (b.error != http::BodyError::kNone) {
      co_await refuse(res, dialect, body_refusal(b.error, rt->config.max_body_bytes), call);
      finish(call);
      co_return;
    }
    bytes = std::move(b.bytes);
  }
  call.audit.bytes_in = bytes.size();

  // 4-7. The surface plans, is authorized, calls Bedrock and answers.
  Loop& loop = *loops_[loop_index];
  switch (route) {
    case Route::kNative: co_await native(rt, head, bytes, res, loop, call, *client, *native_call); break;
    case Route::kChat: co_await openai_chat(rt, bytes, res, loop, call, *client); break;
    case Route::kModels: co_await openai_models(rt, head, res, call, *client); break;
    case Route::kMessages: co_await anthropic_messages(rt, bytes, res, loop, call, *client); break;
    case Route::kNone: break;
  }
  // 8. Exactly one audit line and one metrics update.
  finish(call);
}

Gateway::Access Gateway::authorize(const Runtime& rt, const auth::Client& client, auth::Operation op,
                                   const std::string& model, Call& call) const {
  Access a;
  if (auto denial = rt.clients.authorize(client, op, model)) {
    Refusal r{denial->status, denial->reason};
    r.retry_after = denial->retry_after;
    if (denial->status == 403 && !client.allows_model(model)) {
      r.param = "model";
      r.code = "model_not_allowed";
    }
    a.refusal = std::move(r);
    return a;
  }
  call.model_allowed = true;
  const auto& cache = rt.identity_by_client.at(client.name);
  call.audit.role_session = role_session(cache->role());
  auto creds = cache->current();
  if (!creds) {
    // STS's words name roles and accounts: the log and the audit line get them, the caller
    // a short message it can quote to the operator.
    spdlog::warn("request {}: no valid AWS credentials: {}", call.audit.request_id, creds.message());
    a.refusal = Refusal{503, "signgate holds no valid AWS credentials right now (request " + call.audit.request_id + ")",
                        "", "", "", {}, "no valid AWS credentials: " + creds.message()};
    return a;
  }
  a.credentials = *creds;
  return a;
}

asio::awaitable<Gateway::Upstream> Gateway::call_bedrock(const Runtime& rt, Loop& loop, const aws::Credentials& creds,
                                                         const std::string& model_id, auth::Operation op,
                                                         aws::HeaderList headers, std::string_view body, Call& call) {
  // The upstream request: the body byte for byte, Bedrock's own headers, signed anew.
  aws::HttpRequest up{"POST", upstream_path(rt.bedrock.path, ModelCall{model_id, op}), {}, {{"Host", rt.bedrock.host_header()}}};
  for (auto& h : headers) up.headers.push_back(std::move(h));
  up.headers.push_back({"Content-Length", std::to_string(body.size())});
  const std::string payload_hash = sha256_hex(body);
  const auto signing = aws::SigningOptions::for_service(rt.config.aws.region, "bedrock");
  Upstream out;
  for (int attempt = 0;; ++attempt) {
    aws::HttpRequest signed_req = up;
    loop.signer.sign(signed_req, payload_hash, creds, signing);
    auto r = co_await loop.client->send(rt.bedrock, signed_req, body);
    if (!r) {
      const bool timeout = r.message().find("timed out") != std::string::npos;
      out.status = timeout ? 504 : 502;
      out.message = "Bedrock unreachable: " + r.message();
      co_return out;
    }
    const unsigned status = r->status();
    if ((status == 429 || status == 503) && attempt < rt.config.upstream.max_retries) {
      (void)co_await r->read_all(1 << 20);  // keeps the connection reusable
      metrics_.upstream_retry();
      thread_local std::mt19937 rng{std::random_device{}()};
      const auto ceiling = std::chrono::milliseconds(100 << attempt);
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(ceiling / 2 + std::chrono::milliseconds(std::uniform_int_distribution<long>(0, ceiling.count() / 2)(rng)));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const http::ResponseHead& head = r->head();
    call.audit.upstream_status = head.status;
    call.audit.status = head.status;
    call.audit.aws_request_id = std::string(head.header("x-amzn-RequestId"));
    call.audit.input_tokens = to_count(head.header("X-Amzn-Bedrock-Input-Token-Count"));
    call.audit.output_tokens = to_count(head.header("X-Amzn-Bedrock-Output-Token-Count"));
    if (head.status >= 400) call.audit.error = std::string(head.header("x-amzn-ErrorType"));
    out.response.emplace(std::move(*r));
    co_return out;
  }
}

asio::awaitable<void> Gateway::native(std::shared_ptr<const Runtime> rt, const http::RequestHead& req_head, const std::string& req_body,
                                      http::Responder& res, Loop& loop, Call& call, const auth::Client& client,
                                      const ModelCall& parsed) {
  const Access a = authorize(*rt, client, parsed.operation, parsed.model_id, call);
  if (a.refusal) {
    co_await refuse(res, Dialect::kBedrock, *a.refusal, call);
    co_return;
  }
  aws::HeaderList request_headers;
  for (const auto& f : req_head) {
    if (forwarded_request_header(f.name_string(), parsed.operation)) {
      request_headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
  }
  Upstream upstream = co_await call_bedrock(*rt, loop, *a.credentials, parsed.model_id, parsed.operation,
                                            std::move(request_headers), req_body, call);
  if (!upstream.response) {
    co_await refuse(res, Dialect::kBedrock, upstream_refusal(upstream, call), call);
    co_return;
  }
  std::optional<http::Response>& answer = upstream.response;

  const http::ResponseHead& head = answer->head();
  Headers headers;
  for (const auto& h : head.headers) {
    if (forwarded_response_header(h.name)) headers.push_back({h.name, h.value});
  }
  // Bedrock's 429/503 carries no Retry-After; once our retries are spent, tell the caller
  // when to come back instead of leaving it to guess (SDKs honour the header).
  if ((head.status == 429 || head.status == 503) && head.header("retry-after").empty()) {
    headers.push_back({"Retry-After", "1"});
  }

  if (head.header("content-type").rfind("application/vnd.amazon.eventstream", 0) == 0) {
    metrics_.stream_opened();
    call.first_byte = Clock::now();
    bool ok = co_await res.start_stream(head.status, std::move(headers));
    FrameAligner frames;
    // Ends the stream the way Bedrock does when it fails mid-answer: one exception frame.
    const auto fail_stream = [&](std::string why) -> asio::awaitable<void> {
      call.audit.error = why;
      if (!ok) co_return;
      if (co_await res.write(exception_frame("internalServerException", "signgate: " + why))) co_await res.finish();
    };
    while (ok) {
      auto piece = co_await answer->read_some();
      if (!piece) {
        co_await fail_stream("upstream stream broke: " + piece.message());
        break;
      }
      if (piece->empty() && answer->done()) {
        if (frames.mid_frame()) {
          co_await fail_stream("upstream stream ended inside a frame");
        } else {
          ok = co_await res.finish();
        }
        break;
      }
      auto complete = frames.push(*piece);
      if (!complete) {
        co_await fail_stream("upstream sent a corrupt " + complete.message());
        break;
      }
      if (!complete->empty()) ok = co_await res.write(*complete);  // the next read waits for this write
      if (!ok) call.audit.error = "client went away mid-stream";
    }
    call.audit.bytes_out = res.bytes_written();
    if (frames.input_tokens) call.audit.input_tokens = frames.input_tokens;
    if (frames.output_tokens) call.audit.output_tokens = frames.output_tokens;
    metrics_.stream_closed();
    co_return;
  }
  auto body = co_await answer->read_all(kMaxUnstreamedAnswer);
  if (!body) {
    const Refusal refusal{502, "Bedrock's answer broke off", "", "", "ServiceUnavailableException", {},
                          "Bedrock's answer broke off: " + body.message()};
    co_await refuse(res, Dialect::kBedrock, refusal, call);
    co_return;
  }
  call.first_byte = Clock::now();
  call.audit.bytes_out = body->size();
  co_await res.send(head.status, std::move(headers), std::move(*body));
}

}  // namespace signgate::gateway
