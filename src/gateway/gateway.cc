#include "gateway/gateway.h"

#include "gateway/gateway_internal.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <random>

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

// Bedrock's own headers that callers send and Bedrock reads; everything else (Authorization,
// X-Amz-*, cookies, proxies' headers) stays here.
bool is_bedrock_header(std::string_view name) {
  constexpr std::string_view kPrefix = "x-amzn-bedrock-";
  return name.size() > kPrefix.size() && iequals(name.substr(0, kPrefix.size()), kPrefix);
}

bool forwarded_request_header(std::string_view name) {
  return iequals(name, "content-type") || iequals(name, "accept") || is_bedrock_header(name);
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


Result<std::shared_ptr<const Runtime>> build_runtime(config::Config cfg, aws::CredentialManager& credentials) {
  auto rt = std::make_shared<Runtime>();
  std::string error;
  auto url = http::parse_url(cfg.aws.bedrock_url(), &error);
  if (!url) return make_error(cfg.source + ": aws.bedrock_endpoint: " + error);
  rt->bedrock = std::move(*url);
  rt->clients = auth::ClientTable::from_config(cfg);
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

http::Handler Gateway::handler() {
  return [this](const http::Request& req, http::Responder& res, std::size_t loop) { return handle(req, res, loop); };
}

http::Refusal Gateway::refusal() {
  return [this](unsigned status, const std::string& reason, const http::Request*) {
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
  metrics_.request(call.audit.client, call.audit.surface, call.audit.operation, call.audit.model, call.audit.status,
                   call.audit.latency_ms / 1000, first_byte_seconds);
  audit_.record(std::move(call.audit));
}

asio::awaitable<void> Gateway::handle(const http::Request& req, http::Responder& res, std::size_t loop_index) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (req.method() == bhttp::verb::get && (path == "/healthz" || path == "/readyz" || path == "/metrics")) {
    if (path == "/healthz") {
      co_await res.send(200, content_type("application/json"), std::string(R"({"status":"ok"})"));
    } else if (path == "/readyz") {
      std::string why;
      if (ready(&why)) {
        co_await res.send(200, content_type("application/json"), std::string(R"({"status":"ready"})"));
      } else {
        std::string body = nlohmann::json{{"status", "not ready"}, {"reason", why}}.dump();
        co_await res.send(503, content_type("application/json"), std::move(body));
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
    co_return;
  }
  Call call;
  call.audit.ts = system_now();
  call.audit.request_id = new_request_id();
  call.audit.bytes_in = req.body().size();
  const bool post = req.method() == bhttp::verb::post;
  if (path.substr(0, 7) == "/model/") {
    call.audit.surface = "bedrock";
    co_await native(req, res, *loops_[loop_index], call);
  } else if (post && path == "/v1/chat/completions") {
    co_await openai_chat(req, res, *loops_[loop_index], call);
  } else if (req.method() == bhttp::verb::get && (path == "/v1/models" || path.substr(0, 11) == "/v1/models/")) {
    co_await openai_models(req, res, call);
  } else if (post && path == "/v1/messages") {
    co_await anthropic_messages(req, res, *loops_[loop_index], call);
  } else {
    call.audit.surface = "http";
    call.audit.status = 404;
    call.audit.error = "no such path";
    Headers headers = content_type("application/json");
    headers.push_back({"x-amzn-ErrorType", "UnknownOperationException"});
    std::string body = R"({"message":"no such path; signgate serves POST /v1/chat/completions, GET /v1/models, POST /v1/messages and POST /model/{modelId}/{operation}"})";
    co_await res.send(404, std::move(headers), std::move(body));
  }
  finish(call);
}

Gateway::Access Gateway::access(const Runtime& rt, const http::Request& req, auth::Operation op,
                                const std::string& model, Call& call) const {
  Access a;
  const std::string_view secret = auth::secret_from_headers(req[bhttp::field::authorization], req["x-api-key"]);
  if (auto denial = rt.clients.check(secret, op, model, system_now(), &a.client)) {
    if (a.client != nullptr) call.audit.client = a.client->name;
    a.status = denial->status;
    a.message = denial->reason;
    a.retry_after = denial->retry_after;
    return a;
  }
  call.audit.client = a.client->name;
  const auto& cache = rt.identity_by_client.at(a.client->name);
  call.audit.role_session = role_session(cache->role());
  auto creds = cache->current();
  if (!creds) {
    a.status = 503;
    a.message = "signgate holds no valid AWS credentials: " + creds.message();
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

asio::awaitable<void> Gateway::native(const http::Request& req, http::Responder& res, Loop& loop, Call& call) {
  const auto rt = runtime();
  auto error_reply = [&](unsigned status, const char* type, const std::string& message,
                         Headers extra = {}) -> asio::awaitable<void> {
    call.audit.status = status;
    call.audit.error = message;
    extra.push_back({"Content-Type", "application/json"});
    extra.push_back({"x-amzn-ErrorType", type});
    extra.push_back({"x-amzn-RequestId", call.audit.request_id});
    const std::string body = nlohmann::json{{"message", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    co_await res.send(status, std::move(extra), body);
    call.audit.bytes_out = body.size();
  };

  std::string error;
  const auto parsed = parse_model_path(req.target(), &error);
  if (!parsed) {
    co_await error_reply(404, "UnknownOperationException", error);
    co_return;
  }
  call.audit.operation = std::string(auth::operation_name(parsed->operation));
  call.audit.model = parsed->model_id;
  if (req.method() != bhttp::verb::post) {
    co_await error_reply(405, "ValidationException", "Bedrock runtime operations are POST");
    co_return;
  }
  const Access a = access(*rt, req, parsed->operation, parsed->model_id, call);
  if (a.status != 0) {
    Headers extra;
    if (a.status == 429) extra.push_back({"Retry-After", std::to_string(a.retry_after.count())});
    const char* type = a.status == 401   ? "UnauthorizedException"
                       : a.status == 429 ? "ThrottlingException"
                       : a.status == 503 ? "ServiceUnavailableException"
                                         : "AccessDeniedException";
    co_await error_reply(a.status, type, a.message, std::move(extra));
    co_return;
  }
  aws::HeaderList request_headers;
  for (const auto& f : req) {
    if (forwarded_request_header(f.name_string())) {
      request_headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
  }
  Upstream upstream = co_await call_bedrock(*rt, loop, *a.credentials, parsed->model_id, parsed->operation,
                                            std::move(request_headers), req.body(), call);
  if (!upstream.response) {
    co_await error_reply(upstream.status, upstream.status == 504 ? "ModelTimeoutException" : "ServiceUnavailableException",
                         upstream.message);
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
    co_await error_reply(502, "ServiceUnavailableException", "Bedrock's answer broke off: " + body.message());
    co_return;
  }
  call.first_byte = Clock::now();
  call.audit.bytes_out = body->size();
  co_await res.send(head.status, std::move(headers), std::move(*body));
}

}  // namespace signgate::gateway
