#include "gateway/route_runner.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "api/anthropic/betas.h"
#include "api/json_depth.h"
#include "aws/eventstream.h"
#include "aws/model_id.h"
#include "common/base64.h"
#include "common/crypto.h"
#include "common/strings.h"
#include "gateway/log_budget.h"
#include "gateway/memory.h"
#include "gateway/runtime.h"
#include "gateway/stream_relay.h"

namespace signgate::gateway {

namespace asio = boost::asio;
using config::FailKind;

namespace {

// Warnings about targets taken out of service, however often they fail.
LogBudget ejection_warnings;

// How much of a stream is held back while waiting for its first content event.
constexpr std::size_t kMaxPeek = 1 << 20;

// Whether a stream's event carries content: past it, the caller has the answer and the call
// is committed to this target. messageStart / message_start are not content.
bool commits_stream(const aws::eventstream::Message& m) {
  const std::string* type = m.string_header(":event-type");
  if (type == nullptr) return false;
  if (*type == "contentBlockStart" || *type == "contentBlockDelta") return true;
  if (*type != "chunk") return false;
  // InvokeModel's stream: each chunk is {"bytes":"BASE64"}; Anthropic's first is message_start.
  const auto at = m.payload.find("\"bytes\":\"");
  if (at == std::string::npos) return true;
  const auto start = at + 9;
  const auto end = m.payload.find('"', start);
  if (end == std::string::npos) return true;
  const auto decoded = base64_decode(std::string_view(m.payload).substr(start, end - start));
  return !decoded || decoded->find("\"message_start\"") == std::string::npos;
}

// A reply whose first bytes were read to decide on failover: they are handed out first, then
// the rest as it comes; a read error met while peeking comes after them.
class PeekedReply final : public UpstreamReply {
 public:
  PeekedReply(std::unique_ptr<UpstreamReply> inner, std::string held, std::optional<Error> error)
      : inner_(std::move(inner)), held_(std::move(held)), error_(std::move(error)) {}
  const http::ResponseHead& head() const override { return inner_->head(); }
  asio::awaitable<Result<std::string_view>> read_some() override {
    if (!held_.empty()) {
      replay_ = std::move(held_);
      held_.clear();
      co_return std::string_view(replay_);
    }
    if (error_) co_return *error_;
    co_return co_await inner_->read_some();
  }
  bool done() const override { return held_.empty() && !error_ && inner_->done(); }
  void set_abort(std::shared_ptr<http::AbortSignal> abort) override { inner_->set_abort(std::move(abort)); }

 private:
  std::unique_ptr<UpstreamReply> inner_;
  std::string held_;
  std::string replay_;
  std::optional<Error> error_;
};

// Reads a 200 event stream up to its first content event, for at most until `until` (the
// first-byte timeout or the route's deadline, whichever comes first). Returns the failure kind
// of an exception event, a break or the time running out before it, else 0; either way
// `r.reply` then replays what was read, and answers to `caller` again.
asio::awaitable<unsigned> peek_stream(UpstreamResult& r, RouteClock::time_point until,
                                      const std::shared_ptr<http::AbortSignal>& caller) {
  auto bound = std::make_shared<http::AbortSignal>();
  const http::AbortScope follow(caller, [bound] { bound->fire("the caller went away"); });
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_at(until);
  timer.async_wait([bound, timed_out](const boost::system::error_code& ec) {
    if (ec) return;
    *timed_out = true;
    bound->fire("no content event in time");
  });
  r.reply->set_abort(bound);
  aws::eventstream::Decoder decoder;
  std::string held;
  std::optional<Error> error;
  unsigned kind = 0;
  bool decided = false;
  while (!decided) {
    auto piece = co_await r.reply->read_some();
    if (!piece) {
      error = piece.error();
      kind = *timed_out ? config::kTimeout : config::kUnavailable;  // before the caller had a byte
      break;
    }
    if (piece->empty() && r.reply->done()) break;
    held.append(*piece);
    std::string_view rest = *piece;
    while (!rest.empty() && !decided) {
      const auto fed = decoder.feed(rest);
      if (fed.error != aws::eventstream::Error::kNone) {
        decided = true;  // the relay reports a corrupt stream as it does today
        break;
      }
      rest.remove_prefix(fed.consumed);
      if (fed.message == nullptr) continue;
      const std::string* message_type = fed.message->string_header(":message-type");
      if (message_type != nullptr && *message_type == "exception") {
        const std::string* type = fed.message->string_header(":exception-type");
        kind = type != nullptr ? stream_exception_kind(*type) : 0;
        decided = true;
      } else if (commits_stream(*fed.message)) {
        decided = true;
      }
    }
    if (held.size() > kMaxPeek) break;
  }
  timer.cancel();
  r.reply->set_abort(caller);
  r.reply = std::make_unique<PeekedReply>(std::move(r.reply), std::move(held), std::move(error));
  co_return kind;
}

// Bedrock's Retry-After, in seconds, when it sent one.
std::optional<std::chrono::seconds> retry_after(const UpstreamResult& r) {
  if (!r.reply) return std::nullopt;
  const std::string_view v = r.reply->head().header("retry-after");
  if (v.empty() || v.size() > 6 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::min(std::chrono::seconds(std::stol(std::string(v))), std::chrono::seconds(300));
}

bool has_cache_point(const nlohmann::json& blocks) {
  if (!blocks.is_array()) return false;
  return std::any_of(blocks.begin(), blocks.end(), [](const nlohmann::json& b) {
    return b.is_object() && (b.contains("cachePoint") || b.contains("cache_control"));
  });
}

const nlohmann::json* member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// An attempt needs at least this much of the route's deadline left to be worth sending.
constexpr std::chrono::milliseconds kLeastAttempt{50};

// A client's forced guardrail lives in one region and account: its calls go only to targets
// signing with the client's own identity in that region (a guardrail ARN names its region;
// an ID is aws.region's).
bool guardrail_allows(const Exchange& x, const RouteTarget& t) {
  if (x.client == nullptr || !x.client->guardrail) return true;
  if (t.identity != "default") return false;
  const std::string& id = x.client->guardrail->id;
  std::string region = x.config().aws.region;
  if (id.rfind("arn:", 0) == 0) {
    if (const auto fields = aws::arn_fields(id)) region = std::string((*fields)[3]);
  }
  return t.region == region;
}

asio::awaitable<UpstreamResult> send_unrouted(Exchange& x, const UpstreamCall& call) {
  ++x.audit.attempts;
  x.audit.region = x.config().aws.region;
  x.audit.identity = "default";
  co_return co_await x.upstream->send(*x.runtime, call, *x.credentials);
}

}  // namespace

unsigned stream_exception_kind(std::string_view type) {
  if (type == "throttlingException" || type == "serviceQuotaExceededException") return config::kThrottled;
  if (type == "serviceUnavailableException" || type == "internalServerException" || type == "modelNotReadyException") {
    return config::kUnavailable;
  }
  if (type == "modelTimeoutException") return config::kTimeout;
  if (type == "modelStreamErrorException" || type == "modelErrorException") return config::kModelError;
  return 0;
}

unsigned failure_kind(const UpstreamResult& r) {
  // No answer: a connection not made or broken before the head is unavailability.
  if (!r.reply) return r.failure.kind == ErrorKind::kTimeout ? config::kTimeout : config::kUnavailable;
  const unsigned status = r.reply->status();
  if (status < 400) return 0;
  std::string_view type = r.facts.error_type;
  if (const auto colon = type.find(':'); colon != std::string_view::npos) type = type.substr(0, colon);
  if (type == "ThrottlingException" || type == "ServiceQuotaExceededException") return config::kThrottled;
  if (type == "ServiceUnavailableException" || type == "ModelNotReadyException" || type == "InternalServerException") {
    return config::kUnavailable;
  }
  if (type == "ModelTimeoutException") return config::kTimeout;
  if (type == "ModelErrorException") return config::kModelError;
  if (type == "AccessDeniedException" || type == "ResourceNotFoundException") return config::kDenied;
  if (!type.empty() && status < 500) return 0;  // the request itself is wrong: never fails over
  if (status == 429) return config::kThrottled;
  if (status == 503) return config::kUnavailable;
  if (status == 408) return config::kTimeout;
  if (status == 424) return config::kModelError;
  if (status >= 500) return config::kServerError;
  return 0;
}

std::string_view outcome_name(unsigned kind, unsigned status) {
  if (kind != 0) return config::fail_kind_name(static_cast<FailKind>(kind));
  return status != 0 && status < 400 ? "ok" : "other";
}

std::string target_key(const RouteTarget& t, std::string_view client, const std::string& model) {
  // "default" is each client's own identity: its role tells one account's target from another's.
  const auto held = t.credentials.find(client);
  const std::string_view role =
      held != t.credentials.end() && held->second ? std::string_view(held->second->role().role_arn) : "";
  const std::string& sent = t.model_for(model);
  std::string key;
  key.reserve(t.region.size() + t.identity.size() + role.size() + sent.size() + 3);
  key += t.region;
  key += '|';
  key += t.identity;
  key += '|';
  key += role;
  key += '|';
  key += sent;
  return key;
}

bool target_ejected(const RouteTarget& t, const TargetHealth& health, RouteClock::time_point now) {
  // The model as asked (and the default identity, one role per client) make several keys per
  // target: any of them ejected counts.
  std::string prefix = t.region + "|" + t.identity + "|";
  return health.any_ejected(now, [&](std::string_view key) {
    if (key.substr(0, prefix.size()) != prefix) return false;
    if (t.model.empty()) return true;
    return key.size() > t.model.size() && key.substr(key.size() - t.model.size() - 1) == "|" + t.model;
  });
}

std::optional<std::uint64_t> sticky_key(const ModelRoute& route, std::string_view client, const UpstreamCall& call,
                                        int max_json_depth) {
  if (route.sticky == config::Sticky::kNone) return std::nullopt;
  std::string material = route.name;
  material += '\0';
  material += client;
  if (route.sticky == config::Sticky::kPrefix) {
    material += '\0';
    const nlohmann::json body = api::parse_json(call.body, max_json_depth);
    const nlohmann::json* system = member(body, "system");
    const nlohmann::json* tools = member(body, "tools");
    if (const nlohmann::json* tc = member(body, "toolConfig")) tools = member(*tc, "tools");
    const nlohmann::json* messages = member(body, "messages");
    const auto add = [&](const nlohmann::json* part) {
      material += '\x1e';
      if (part != nullptr) material += api::dump_json(*part);
    };
    std::ptrdiff_t last_cache_point = -1;
    if (messages != nullptr && messages->is_array()) {
      for (std::size_t i = 0; i < messages->size(); ++i) {
        if (const nlohmann::json* content = member((*messages)[i], "content"); content && has_cache_point(*content)) {
          last_cache_point = static_cast<std::ptrdiff_t>(i);
        }
      }
    }
    const bool head_cached = (system != nullptr && has_cache_point(*system)) || (tools && has_cache_point(*tools));
    if (last_cache_point >= 0) {
      add(system);
      add(tools);
      for (std::ptrdiff_t i = 0; i <= last_cache_point; ++i) add(&(*messages)[static_cast<std::size_t>(i)]);
    } else if (head_cached) {
      add(system);
      add(tools);
    } else if (system != nullptr || (messages != nullptr && messages->is_array() && !messages->empty())) {
      add(system);
      add(messages != nullptr && messages->is_array() && !messages->empty() ? &(*messages)[0] : nullptr);
    } else {
      material.append(call.body, 0, std::min<std::size_t>(call.body.size(), 4096));
    }
  }
  const Digest d = sha256(material);
  std::uint64_t key = 0;
  std::memcpy(&key, d.data(), sizeof key);
  return key;
}

std::vector<const RouteTarget*> attempt_order(const ModelRoute& route, std::string_view client,
                                              const std::string& model, TargetHealth& health,
                                              RouteClock::time_point now, const std::optional<std::string>& sticky,
                                              const std::function<double()>& draw) {
  std::vector<const RouteTarget*> serving;
  const RouteTarget* least_recent = nullptr;
  RouteClock::time_point least_recent_failure = RouteClock::time_point::max();
  const bool all_healthy = health.empty();
  for (const auto& t : route.targets) {
    const TargetHealth::View v = all_healthy ? TargetHealth::View{} : health.view(target_key(t, client, model), now);
    if (v.standing != TargetHealth::Standing::kEjected) {
      serving.push_back(&t);
    } else if (v.last_failure < least_recent_failure) {
      least_recent = &t;
      least_recent_failure = v.last_failure;
    }
  }
  if (serving.empty()) {
    if (least_recent != nullptr) return {least_recent};
    return {};
  }
  if (route.strategy == config::Strategy::kWeighted && serving.size() > 1) {
    // A draw by weight for the first place, then among the rest for the next, and so on.
    std::vector<const RouteTarget*> ordered;
    ordered.reserve(serving.size());
    while (!serving.empty()) {
      std::uint64_t total = 0;
      for (const auto* t : serving) total += t->weight;
      double point = draw() * static_cast<double>(total);
      std::size_t pick = serving.size() - 1;
      for (std::size_t i = 0; i < serving.size(); ++i) {
        point -= serving[i]->weight;
        if (point < 0) {
          pick = i;
          break;
        }
      }
      ordered.push_back(serving[pick]);
      serving.erase(serving.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    serving = std::move(ordered);
  }
  if (sticky) {
    const auto it =
        std::find_if(serving.begin(), serving.end(), [&](const RouteTarget* t) { return t->name == *sticky; });
    if (it != serving.end()) std::rotate(serving.begin(), it, it + 1);
  }
  return serving;
}

asio::awaitable<UpstreamResult> send_call(Exchange& x, const UpstreamCall& call) {
  const Runtime& rt = *x.runtime;
  if (x.route == nullptr) co_return co_await send_unrouted(x, call);
  const ModelRoute& route = *x.route;
  RouteState& state = *x.route_state;
  const auto start = RouteClock::now();
  const auto deadline = start + route.deadline;
  const auto key = sticky_key(route, x.audit.client, call, rt.config.max_json_depth);
  // A fleet shares where each sticky key went (a load balancer spreads a client's calls over
  // the replicas, and the prompt cache is where the first call went); this replica's own
  // table answers alone, or when the shared store does not.
  const bool fleet = key && x.memory != nullptr && x.memory->shared();
  std::optional<std::string> sticky;
  if (fleet) {
    auto shared = co_await x.memory->sticky_target(*key);
    sticky = shared ? *shared : state.sticky.get(*key, start);
  } else if (key) {
    sticky = state.sticky.get(*key, start);
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::vector<const RouteTarget*> order =
      attempt_order(route, x.audit.client, call.model, state.health, start, sticky,
                    [] { return std::uniform_real_distribution<double>(0, 1)(rng); });
  // Every target was out when the order was made: the one it holds is tried all the same.
  const bool all_out = order.size() == 1 && !state.health.empty() &&
                       state.health.view(target_key(*order[0], x.audit.client, call.model), start).standing ==
                           TargetHealth::Standing::kEjected;
  x.audit.route = route.name;

  UpstreamResult last;
  bool tried = false;
  // Half-open targets another call is probing are passed over; when nothing else could be
  // tried, the first of them is tried all the same rather than refusing.
  std::vector<const RouteTarget*> deferred;
  const RouteTarget* forced = nullptr;
  const auto more = [&](std::size_t i) {
    if (i < order.size()) return true;
    if (tried || forced != nullptr || deferred.empty()) return false;
    forced = deferred.front();
    order.push_back(forced);
    return true;
  };
  for (std::size_t i = 0; more(i); ++i) {
    const RouteTarget& t = *order[i];
    const auto now = RouteClock::now();
    if (tried && deadline - now < kLeastAttempt) break;  // the route's time is spent
    if (!guardrail_allows(x, t)) continue;
    const auto held = t.credentials.find(x.audit.client);
    if (held == t.credentials.end()) continue;
    auto credentials = held->second->current();
    if (!credentials) {
      spdlog::debug("request {}: route {}: target {} skipped: {}", x.audit.request_id, route.name, t.name,
                    credentials.message());
      continue;
    }
    // The key is made only when the health table holds anything (a target failed lately).
    std::string tkey;
    const auto key_of = [&]() -> const std::string& {
      if (tkey.empty()) tkey = target_key(t, x.audit.client, call.model);
      return tkey;
    };
    // Its standing now, not when the order was made: another loop may have taken its probe
    // or ejected it meanwhile. Only the all-ejected fallback goes to an ejected target.
    bool probing = false;
    if (&t != forced && !state.health.empty()) {
      const auto standing = state.health.view(key_of(), now).standing;
      if (standing == TargetHealth::Standing::kHalfOpen) {
        if (!state.health.claim_probe(key_of(), now)) {
          deferred.push_back(&t);
          continue;
        }
        probing = true;
      } else if (standing == TargetHealth::Standing::kEjected && !all_out) {
        deferred.push_back(&t);
        continue;
      }
    }
    const bool last_target = i + 1 == order.size();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    Destination to;
    to.endpoint = &t.endpoint;
    to.region = t.region;
    to.model = t.model;
    to.max_retries = last_target ? -1 : 0;  // throttles move on at once, but on the last target
    to.head_timeout = left;
    tried = true;
    // Anthropic's betas were chosen for the model the caller named: a target that sends another
    // gets them chosen again for its own (a beta that model lacks is never sent).
    std::optional<UpstreamCall> adapted;
    if (!t.model.empty() && t.model != call.model && x.audit.surface == "anthropic") {
      const bool counting = call.operation == aws::Operation::kCountTokens;  // the body inside, base64
      auto again = counting ? api::anthropic::refilter_count_tokens_body(call.body, rt.anthropic_betas, t.model,
                                                                         rt.config.max_json_depth)
                            : api::anthropic::refilter_invoke_body(call.body, rt.anthropic_betas, t.model,
                                                                   rt.config.max_json_depth);
      if (again) {
        adapted = call;
        adapted->body = std::move(again->body);
        for (const auto& beta : again->dropped) x.metrics->beta_dropped(x.audit.client, beta);
      }
    }
    UpstreamResult r = co_await x.upstream->send(rt, adapted ? *adapted : call, **credentials, to);
    ++x.audit.attempts;
    x.audit.target = t.name;
    x.audit.region = t.region;
    x.audit.identity = t.identity;
    x.audit.target_model = t.model;
    const auto release = [&] {
      if (probing) state.health.release_probe(key_of());
    };
    if (x.caller_gone()) {
      release();
      co_return r;
    }
    unsigned kind = failure_kind(r);
    // Every routed stream is read up to its first content event: a throttle inside the 200
    // stream before it is a failure of this target, and a failover while others remain.
    if (kind == 0 && r.reply && r.reply->status() == 200 && is_event_stream(r.reply->head())) {
      kind = co_await peek_stream(r, std::min(deadline, RouteClock::now() + rt.config.upstream.first_byte_timeout),
                                  call.abort);
      if (x.caller_gone()) {
        release();
        co_return r;
      }
    }
    const unsigned status = r.reply ? r.reply->status() : 0;
    x.metrics->route_attempt(route.name, t.name, outcome_name(kind, status));
    // A timeout the route's deadline cut short says nothing about the target.
    const bool deadline_cut = kind == config::kTimeout && left < rt.config.upstream.first_byte_timeout &&
                              RouteClock::now() + kLeastAttempt >= deadline;
    if (kind == 0 || (route.fail_over_on & kind) == 0 || deadline_cut) {
      if (kind == 0 && status != 0 && status < 400) {
        if (!state.health.empty()) state.health.succeeded(key_of());
        if (key) state.sticky.put(*key, t.name, RouteClock::now());
        if (fleet && sticky != t.name) co_await x.memory->keep_sticky(*key, t.name);
      } else {
        release();
      }
      co_return r;  // answered, or failed in a way this route does not fail over on
    }
    if (state.health.failed(key_of(), RouteClock::now(), route.eject_after, route.eject_for, retry_after(r))) {
      x.metrics->route_ejection(route.name, t.name);
      std::uint64_t skipped = 0;
      if (ejection_warnings.take(&skipped)) {
        spdlog::warn("route {}: target {} ejected after {} ({}){}", route.name, t.name, outcome_name(kind, status),
                     r.reply ? r.facts.error_type : r.failure.message,
                     skipped == 0 ? std::string() : "; " + std::to_string(skipped) + " more like it not logged");
      }
    }
    if (!last_target) x.metrics->route_failover(route.name, t.name);
    last = std::move(r);
  }
  // No target could be tried: for a client with a guardrail the route's targets may all lie
  // outside its guardrail's region and account, and the call goes as it would unrouted.
  if (!tried) {
    if (x.client != nullptr && x.client->guardrail && x.credentials) co_return co_await send_unrouted(x, call);
    last.failure =
        make_error("no target of route " + route.name + " holds valid AWS credentials now", ErrorKind::kUnreachable);
  }
  co_return last;
}

}  // namespace signgate::gateway
