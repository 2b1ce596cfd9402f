#include "gateway/pipeline.h"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <variant>
#include <vector>

#include "aws/model_id.h"
#include "common/crypto.h"
#include "gateway/abandoned.h"
#include "gateway/attribution.h"
#include "gateway/guardrail.h"
#include "gateway/limits.h"
#include "gateway/log_budget.h"
#include "gateway/route_runner.h"

namespace signgate::gateway {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

std::string new_request_id() {
  // Ids name stored data (resp_..., item ids): drawn from a CSPRNG, not guessable from others.
  unsigned char bytes[16];
  random_bytes(bytes, sizeof bytes);
  return hex_lower(bytes, sizeof bytes);
}

namespace {

// Warnings about Bedrock's answers, however hard Bedrock throttles.
LogBudget bedrock_warnings;

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

// Calls a route may send elsewhere: those that name a model and leave nothing behind that a
// later call must find in the same account and region (an async invocation does).
bool routed(const UpstreamCall& call) {
  // Bedrock's OpenAI-compatible API has its own endpoints and body: not a route's to send.
  if (call.model.empty() || call.control_plane || call.openai_api) return false;
  switch (call.operation) {
    case aws::Operation::kInvoke:
    case aws::Operation::kInvokeStream:
    case aws::Operation::kConverse:
    case aws::Operation::kConverseStream:
    case aws::Operation::kCountTokens: return true;
    default: return false;
  }
}

// Models with no price, each warned about once (bounded: only models Bedrock answered get here).
class UnpricedModels {
 public:
  void warn(const std::string& model, const config::PriceTable& shipped) {
    {
      std::lock_guard lock(mutex_);
      if (warned_.size() >= 1024 || !warned_.insert(model).second) return;
    }
    spdlog::warn(
        "no price is known for model {} (neither pricing: in the config nor the shipped table of {} names it): its "
        "calls are audited with cost_usd null and charged to no USD budget",
        model, shipped.as_of);
  }

 private:
  std::mutex mutex_;
  std::set<std::string, std::less<>> warned_;
};
UnpricedModels unpriced_models;

// What an answered call cost at its model's price (SPEC §8), into the audit line, and what the
// limits charge for it. CountTokens costs nothing; a call with no usage reported has no cost.
Charge price(Exchange& x) {
  Charge c;
  const std::uint64_t cache_write = x.audit.cache_write_tokens.value_or(0);
  c.tokens = x.audit.input_tokens.value_or(0) + x.audit.output_tokens.value_or(0) + cache_write;
  if (x.audit.operation == aws::operation_name(aws::Operation::kCountTokens)) {
    // Counting tokens is free on Bedrock, and spends no token budget here either.
    if (x.audit.status >= 200 && x.audit.status < 300) x.audit.cost_usd = 0.0;
    c.tokens = 0;
    return c;
  }
  const bool answered = (x.audit.upstream_status >= 200 && x.audit.upstream_status < 300) || x.billed;
  if (!answered || x.runtime == nullptr || !x.runtime->pricing) return c;
  if (!x.audit.input_tokens && !x.audit.output_tokens) return c;  // no usage reported
  c.answered = true;
  c.model = x.audit.target_model.empty() ? std::string_view(x.audit.model) : std::string_view(x.audit.target_model);
  c.usage = spend::Usage{x.audit.input_tokens.value_or(0), x.audit.output_tokens.value_or(0),
                         x.audit.cache_read_tokens.value_or(0), cache_write,
                         std::min(x.audit.cache_write_1h_tokens, cache_write)};
  x.audit.cost_usd = x.runtime->pricing->cost(c.model, c.usage, x.audit.service_tier);
  if (x.audit.cost_usd) {
    c.priced = true;
    c.usd = auth::to_nano_usd(*x.audit.cost_usd);
  } else {
    unpriced_models.warn(std::string(c.model), x.runtime->pricing->shipped());
  }
  return c;
}

Refusal denial_refusal(const auth::Denial& d) {
  Refusal r{d.status, d.reason};
  r.retry_after = d.retry_after;
  r.code = d.code;
  return r;
}

// Every answer names its request: x-request-id is the audit line's request_id, so a caller can
// quote it, whatever the surface and whether the answer is Bedrock's, a local one or a refusal.
class NamedResponder final : public http::Responder {
 public:
  NamedResponder(http::Responder& inner, const std::string& id) : inner_(inner), id_(id) {}
  asio::awaitable<bool> send(unsigned status, std::vector<std::pair<std::string, std::string>> headers,
                             std::string body) override {
    headers.emplace_back("x-request-id", id_);
    co_return co_await inner_.send(status, std::move(headers), std::move(body));
  }
  asio::awaitable<bool> start_stream(unsigned status,
                                     std::vector<std::pair<std::string, std::string>> headers) override {
    headers.emplace_back("x-request-id", id_);
    co_return co_await inner_.start_stream(status, std::move(headers));
  }
  asio::awaitable<bool> write(std::string_view piece) override { return inner_.write(piece); }
  asio::awaitable<bool> finish() override { return inner_.finish(); }
  bool started() const override { return inner_.started(); }
  std::uint64_t bytes_written() const override { return inner_.bytes_written(); }
  std::shared_ptr<http::AbortSignal> abort_signal() override { return inner_.abort_signal(); }

 private:
  http::Responder& inner_;
  const std::string& id_;
};

}  // namespace

asio::awaitable<std::variant<Plan, LocalAnswer, Refusal>> Surface::plan_async(Exchange& x, const HeadPlan& hp,
                                                                              const http::RequestHead& head,
                                                                              std::string body) const {
  co_return plan(x, hp, head, std::move(body));
}

asio::awaitable<void> Pipeline::run(const Surface& surface, std::shared_ptr<const Runtime> rt,
                                    const http::RequestHead& head, http::BodyReader& body, http::Responder& caller,
                                    LoopParts parts) {
  Upstream& upstream = parts.upstream;
  Limits& limits = parts.limits;
  Exchange x;
  x.audit.ts = system_now();
  x.audit.request_id = new_request_id();
  NamedResponder res(caller, x.audit.request_id);
  x.audit.surface = std::string(surface.name());
  x.audit.protocol = http::protocol_of(head);
  x.caller = &res;
  x.limits = &limits;
  x.abort = res.abort_signal();
  x.runtime = std::move(rt);
  x.metrics = &metrics_;
  x.memory = &parts.memory;
  const Runtime& runtime = *x.runtime;

  // 1. What the head says.
  auto head_plan = surface.plan_head(head);
  if (auto* refused = std::get_if<Refusal>(&head_plan)) {
    co_await refuse(surface, *refused, x, res);
    finish(x);
    co_return;
  }
  const HeadPlan& hp = std::get<HeadPlan>(head_plan);
  if (hp.operation) {
    x.audit.operation = std::string(aws::operation_name(*hp.operation));
  } else {
    x.audit.operation = std::string(hp.label);
  }
  x.audit.model = hp.model;

  // 2. Authenticate from the head: no body byte has been read, no 100 Continue sent.
  auto presented = auth::secret_from_headers(field_values(head, "authorization"), field_values(head, "x-api-key"));
  if (auto* denial = std::get_if<auth::Denial>(&presented)) {
    const Refusal refusal{denial->status, denial->reason, "", denial->status == 401 ? "invalid_api_key" : ""};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  if (auto denial = runtime.clients.identify(std::get<std::string_view>(presented), system_now(), &x.client)) {
    if (x.client != nullptr) x.audit.client = x.client->name;
    const Refusal refusal{denial->status, denial->reason, "", "invalid_api_key"};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  x.audit.client = x.client->name;
  if (revocations_ && revocations_->fails_closed() && !revocations_->current(std::chrono::steady_clock::now())) {
    // on_failure: deny, and the fleet's list of revoked keys has not been read for a while:
    // this key may have been revoked since.
    const Refusal refusal{503,
                          "signgate cannot read its list of revoked API keys from Redis right now, so it accepts no "
                          "API key until it can",
                          "",
                          "",
                          "",
                          std::chrono::seconds(1),
                          "revocations not read from Redis within 5 s (redis.on_failure: deny)"};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  if (revocations_ && revocations_->any() && revocations_->revoked(sha256(std::get<std::string_view>(presented)))) {
    const Refusal refusal{401, "this API key was revoked", "", "invalid_api_key"};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }

  // 3. Only now the body, up to the limit.
  std::string bytes;
  if (head.method() == bhttp::verb::post || body.announced()) {
    http::Body b = co_await body.read(runtime.config.max_body_bytes);
    if (b.error != http::BodyError::kNone) {
      const Refusal refusal = body_refusal(b.error, runtime.config.max_body_bytes);
      co_await refuse(surface, refusal, x, res);
      finish(x);
      co_return;
    }
    bytes = std::move(b.bytes);
  }
  x.audit.bytes_in = bytes.size();

  // 4. The surface plans the call.
  std::variant<Plan, LocalAnswer, Refusal> planned = Refusal{400, "the body could not be read"};
  try {
    if (surface.plans_async()) {
      planned = co_await surface.plan_async(x, hp, head, std::move(bytes));
    } else {
      planned = surface.plan(x, hp, head, std::move(bytes));
    }
  } catch (const nlohmann::json::exception& e) {
    // A translator met a JSON type it did not expect: the caller's mistake, answered and audited.
    planned = Refusal{400, "the body has a field of the wrong type", "", "", "", {}, e.what()};
  }
  if (auto* refused = std::get_if<Refusal>(&planned)) {
    co_await refuse(surface, *refused, x, res);
    finish(x);
    co_return;
  }
  if (auto* local = std::get_if<LocalAnswer>(&planned)) {
    // Local answers are cheap, but still this client's traffic: they count against its limit.
    if (auto denial = co_await limits.admit(*x.client)) {
      const Refusal refusal = denial_refusal(*denial);
      co_await refuse(surface, refusal, x, res);
    } else {
      x.audit.status = local->status;
      if (!local->body.empty() && local->body.back() == '}') local->body.push_back('\n');  // JSON ends its line
      x.audit.bytes_out = local->body.size();
      co_await res.send(local->status, std::move(local->headers), std::move(local->body));
    }
    finish(x);
    co_return;
  }
  Plan& plan = std::get<Plan>(planned);
  x.audit.operation = std::string(aws::operation_name(plan.call.operation));
  // A model ID from a body or an alias that Bedrock's grammar refuses: "..", "." or worse
  // would become a dot segment in the upstream path.
  if (!plan.call.model.empty() && !aws::valid_model_id(plan.call.model)) {
    const Refusal refusal{400, "model: not a Bedrock model ID, inference profile or ARN", "model", "model_not_found"};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  x.audit.model = plan.call.model;
  x.route = routed(plan.call) ? runtime.routes.match(plan.call.model, plan.call.asked) : nullptr;
  x.route_state = &routes_;

  // 5. May this client make this call, and as whom?
  auto access = authorize(x, plan.call);
  if (auto* refused = std::get_if<Refusal>(&access)) {
    co_await refuse(surface, *refused, x, res);
    finish(x);
    co_return;
  }
  const auto credentials = std::get<std::shared_ptr<const aws::Credentials>>(std::move(access));
  if (auto denial = co_await limits.admit(*x.client)) {
    const Refusal refusal = denial_refusal(*denial);
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  if (x.client->guardrail && plan.call.openai_api) {
    // Bedrock's OpenAI-compatible API takes no guardrail: a client held to one cannot use it.
    const Refusal refusal{403, "this key is held to a Bedrock guardrail, which model '" + plan.call.asked +
                                   "' (served by Bedrock's OpenAI-compatible API) cannot apply"};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  if (x.client->guardrail) {
    if (auto bad = enforce_guardrail(plan.call, *x.client->guardrail, runtime.config.max_json_depth)) {
      const Refusal refusal{400, *bad};
      co_await refuse(surface, refusal, x, res);
      finish(x);
      co_return;
    }
  }
  // Attribution in Bedrock's invocation logs: who called, which request (SPEC §8).
  if (!stamp_attribution(plan.call, *x.client, x.audit.request_id)) {
    const Refusal refusal{400, "the body must be a JSON object in UTF-8"};
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }

  // 6. Send. A caller that goes away meanwhile (an HTTP/2 stream reset) stops the call.
  x.upstream = &upstream;
  x.credentials = credentials;
  x.call = &plan.call;
  plan.call.abort = x.abort;
  UpstreamResult sent = co_await send_call(x, plan.call);
  if (!sent.reply && x.caller_gone()) {
    finish(x);  // nobody to answer
    co_return;
  }
  if (!sent.reply) {
    const Refusal refusal = failure_refusal(sent.failure, x.audit.request_id);
    co_await refuse(surface, refusal, x, res);
    finish(x);
    co_return;
  }
  x.audit.upstream_status = sent.facts.status;
  x.audit.status = sent.facts.status;
  x.audit.aws_request_id = std::move(sent.facts.request_id);
  x.audit.input_tokens = sent.facts.input_tokens;
  x.audit.output_tokens = sent.facts.output_tokens;
  x.audit.cache_read_tokens = sent.facts.cache_read_tokens;
  x.audit.cache_write_tokens = sent.facts.cache_write_tokens;
  if (!sent.facts.error_type.empty()) x.audit.error = std::move(sent.facts.error_type);
  // What an operator must act on: Bedrock failing, throttling, or refusing this identity.
  std::uint64_t skipped = 0;
  if (const unsigned st = sent.facts.status;
      (st >= 500 || st == 429 || st == 401 || st == 403) && bedrock_warnings.take(&skipped)) {
    spdlog::warn("request {}: Bedrock answered {} {} to {} {} (client {}, {}, aws request {}){}", x.audit.request_id,
                 st, x.audit.error.empty() ? "" : x.audit.error, x.audit.operation, x.audit.model, x.audit.client,
                 x.audit.role_session, x.audit.aws_request_id.empty() ? "-" : x.audit.aws_request_id,
                 skipped == 0 ? std::string() : "; " + std::to_string(skipped) + " more like it not logged");
  }

  // 7. The surface answers. Whatever it throws (memory running out, say) still ends in an
  // answer if none was started, and always in the audit line and the metrics.
  std::optional<Refusal> failed;
  try {
    failed = co_await surface.answer(x, plan, *sent.reply, res);
  } catch (const std::exception& e) {
    spdlog::error("request {}: answering failed: {}", x.audit.request_id, e.what());
    x.audit.error = std::string("answering failed: ") + e.what();
    if (!res.started()) {
      failed = Refusal{500, "signgate could not answer (request " + x.audit.request_id + ")", "", "", "", {}, e.what()};
    }
  }
  if (failed) co_await refuse(surface, *failed, x, res);

  // 8. Exactly one audit line and one metrics update.
  finish(x);
}

std::variant<std::shared_ptr<const aws::Credentials>, Refusal> Pipeline::authorize(Exchange& x,
                                                                                   const UpstreamCall& call) const {
  const Runtime& rt = *x.runtime;
  const auth::Client& client = *x.client;
  if (auto denial = rt.clients.authorize(client, call.operation, call.model)) {
    Refusal r = denial_refusal(*denial);
    if (denial->status == 403 && !call.model.empty() && !client.allows_model(call.model)) {
      r.param = "model";
      r.code = "model_not_allowed";
    }
    return r;
  }
  x.model_allowed = true;
  const auto& cache = rt.identity_by_client.at(client.name);
  x.audit.role_session = role_session(cache->role());
  auto creds = cache->current();
  if (x.route != nullptr) {
    // A routed call needs credentials for one of its targets, not necessarily its own.
    for (const auto& t : x.route->targets) {
      const auto held = t.credentials.find(client.name);
      if (held != t.credentials.end() && held->second->current()) {
        return creds ? *creds : std::shared_ptr<const aws::Credentials>();
      }
    }
    creds = make_error("no target of route " + x.route->name + " holds valid AWS credentials");
  }
  if (!creds) {
    // STS's words name roles and accounts: the log and the audit line get them, the caller
    // a short message it can quote to the operator.
    spdlog::warn("request {}: no valid AWS credentials: {}", x.audit.request_id, creds.message());
    return Refusal{503,
                   "signgate holds no valid AWS credentials right now (request " + x.audit.request_id + ")",
                   "",
                   "",
                   "",
                   {},
                   "no valid AWS credentials: " + creds.message()};
  }
  return *creds;
}

asio::awaitable<void> Pipeline::refuse(const Surface& surface, const Refusal& r, Exchange& x, http::Responder& res) {
  x.audit.status = r.status;
  x.audit.error = r.detail.empty() ? r.message : r.detail;
  Rendered out = surface.render(r, x.audit.request_id);
  x.audit.bytes_out = out.body.size();
  co_await res.send(out.status, std::move(out.headers), std::move(out.body));
}

asio::awaitable<void> Pipeline::refuse_unrouted(Dialect dialect, Refusal r, const http::RequestHead& head,
                                                http::Responder& caller) {
  Exchange x;
  x.audit.ts = system_now();
  x.audit.request_id = new_request_id();
  NamedResponder res(caller, x.audit.request_id);
  x.audit.surface = "http";
  x.audit.protocol = http::protocol_of(head);
  x.audit.status = r.status;
  x.audit.error = r.detail.empty() ? r.message : r.detail;
  Rendered out = render(dialect, r, x.audit.request_id);
  x.audit.bytes_out = out.body.size();
  co_await res.send(out.status, std::move(out.headers), std::move(out.body));
  finish(x);
}

void Pipeline::rejected(unsigned status, const std::string& reason, std::string_view protocol) {
  Exchange x;
  x.audit.ts = system_now();
  x.audit.request_id = new_request_id();
  x.audit.surface = "http";
  x.audit.protocol = protocol;
  x.audit.status = status;
  x.audit.error = reason;
  finish(x);
}

void Pipeline::finish(Exchange& x) {
  if (x.caller_gone()) {
    // Audited as nginx does, 499 "client closed request" when no answer began: whatever the
    // upstream call said after that went nowhere, and it is not Bedrock's failure.
    if (!x.caller->started()) x.audit.status = 499;
    const std::string gone = x.abort->reason() + " before the answer ended";
    x.audit.error = x.audit.error.empty() ? gone : x.audit.error + "; " + gone;
    x.audit.caller_left = true;
  }
  if (x.stream.caller_left) {
    settle_abandoned(x);
  } else if (x.audit.input_tokens || x.audit.output_tokens) {
    x.audit.tokens_from = "bedrock";
  }
  // What the answer cost, and what it used counts against the client's limits and budgets.
  const Charge charge = price(x);
  if (x.limits != nullptr && x.client != nullptr) x.limits->charge(*x.client, charge);
  const auto end = SteadyClock::now();
  x.audit.latency_ms = std::chrono::duration<double, std::milli>(end - x.start).count();
  std::optional<double> first_byte_seconds;
  if (x.first_byte) {
    x.audit.first_byte_ms = std::chrono::duration<double, std::milli>(*x.first_byte - x.start).count();
    first_byte_seconds = *x.audit.first_byte_ms / 1000;
  }
  static const std::string kNone;
  metrics_.request({.client = x.audit.client,
                    .surface = x.audit.surface,
                    .operation = x.audit.operation,
                    .model = x.model_allowed ? x.audit.model : kNone,
                    .protocol = x.audit.protocol,
                    .status = x.audit.status,
                    .latency_seconds = x.audit.latency_ms / 1000,
                    .first_byte_seconds = first_byte_seconds,
                    .cost_usd = x.audit.cost_usd});
  audit_.record(std::move(x.audit));
}

}  // namespace signgate::gateway
