#include "gateway/surfaces/translated.h"

#include "api/json_depth.h"
#include "api/json_fields.h"
#include "aws/scrub_identity.h"
#include "gateway/log_budget.h"

#include <spdlog/spdlog.h>

namespace signgate::gateway::surfaces {

namespace {

// Bedrock's error texts a caller was not given, however many requests Bedrock refuses.
LogBudget bedrock_texts;

// What a caller reads instead of Bedrock's 401 or 403: those are about signgate's own identity
// (its role, session and account), which stay with the operator.
std::string identity_refused(std::string_view type, const std::string& request_id) {
  if (type == "AccessDeniedException" || type.empty()) {
    return "signgate's AWS identity is not allowed to call this model on Bedrock (request " + request_id +
           "); the operator's log has the details";
  }
  return "Bedrock did not accept signgate's AWS credentials (request " + request_id +
         "); the operator's log has the details";
}

}  // namespace

Refusal bedrock_refusal(const http::ResponseHead& head, const std::string& body, const std::string& request_id) {
  std::string type(head.header("x-amzn-ErrorType"));
  if (const auto colon = type.find(':'); colon != std::string::npos) type.resize(colon);
  const nlohmann::json j = api::parse_json(body, api::kDefaultMaxJsonDepth);
  const std::string said = j.is_object() && j.contains("message") && j["message"].is_string()
                               ? j["message"].get<std::string>()
                               : std::string();
  std::string message;
  if (head.status == 401 || head.status == 403) {
    message = identity_refused(type, request_id);
  } else if (said.empty()) {
    message = "Bedrock answered " + std::to_string(head.status);
  } else {
    message = aws::scrub_identity(said);
  }
  unsigned status = head.status;
  if (type == "ModelTimeoutException" || status == 408) status = 504;
  const bool withheld = !said.empty() && message != said;
  Refusal r{status, std::move(message)};
  r.bedrock_type = type;
  r.detail = type.empty() ? r.message : type;
  if (withheld) {
    // The operator's: the audit line and the log keep what the caller was not shown.
    const std::string full = aws::operator_text(said);
    r.detail = type.empty() ? full : type + ": " + full;
    std::uint64_t skipped = 0;
    if (bedrock_texts.take(&skipped)) {
      spdlog::log(head.status == 401 || head.status == 403 ? spdlog::level::warn : spdlog::level::info,
                  "request {}: Bedrock's {} {}, not shown to the caller: {}{}", request_id, head.status,
                  type.empty() ? "error" : type, full,
                  skipped == 0 ? std::string() : "; " + std::to_string(skipped) + " more like it not logged");
    }
  }
  if (status == 404) r.param = "model";
  r.code = type == "ResourceNotFoundException" ? "model_not_found" : type;
  if (status == 429) r.retry_after = std::chrono::seconds(1);
  return r;
}

boost::asio::awaitable<Refusal> refusal_from(const Exchange& x, UpstreamReply& reply) {
  auto text = co_await reply.read_all(1 << 20);
  std::string body = text ? std::move(*text) : std::string();
  co_return bedrock_refusal(reply.head(), body, x.audit.request_id);
}

Refusal unreadable_answer(const Exchange& x, std::string detail) {
  return Refusal{502,
                 "Bedrock's answer could not be read (request " + x.audit.request_id + ")",
                 "",
                 "",
                 "",
                 {},
                 std::move(detail)};
}

UpstreamCall converse_call(const std::string& model_id, bool stream, const nlohmann::json& body) {
  UpstreamCall call;
  call.operation = stream ? aws::Operation::kConverseStream : aws::Operation::kConverse;
  call.model = model_id;
  call.headers = {{"Content-Type", "application/json"},
                  {"Accept", stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  call.body = api::dump_json(body);
  return call;
}

Refusal unusable_json_answer(const Exchange& x, bool too_deep) {
  return unreadable_answer(x, too_deep ? "Bedrock's answer nests deeper than limits.max_json_depth"
                                       : "Bedrock's answer is not a JSON object");
}

boost::asio::awaitable<std::variant<nlohmann::json, Refusal>> read_json_answer(Exchange& x, UpstreamReply& reply) {
  auto text = co_await reply.read_all(kMaxAnswer);
  bool too_deep = false;
  nlohmann::json answer = text ? api::parse_json(*text, x.config().max_json_depth, &too_deep) : nlohmann::json();
  if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
  if (!answer.is_object()) co_return unusable_json_answer(x, too_deep);
  x.first_byte = SteadyClock::now();
  // Converse says its usage in the body: what the client spent.
  audit_usage(x.audit, api::converse_usage(api::object_field(answer, "usage")));
  co_return answer;
}

void note_user(Exchange& x, std::string_view user) {
  if (user.size() > 256) {
    user = user.substr(0, 256);
    while (!user.empty() && (static_cast<unsigned char>(user.back()) & 0xC0) == 0x80) user.remove_suffix(1);
    if (!user.empty() && static_cast<unsigned char>(user.back()) >= 0xC0) user.remove_suffix(1);  // a cut lead byte
  }
  x.audit.user = std::string(user);
}

api::anthropic::Betas requested_betas(const Exchange& x, const http::RequestHead& head) {
  std::vector<std::string_view> values;
  const auto range = head.equal_range("anthropic-beta");
  for (auto f = range.first; f != range.second; ++f) values.push_back(f->value());
  return api::anthropic::Betas{api::anthropic::parse_beta_header(values), &x.runtime->anthropic_betas};
}

void count_dropped(const Exchange& x, const std::vector<std::string>& dropped, std::string_view model) {
  for (const auto& beta : dropped) {
    x.metrics->beta_dropped(x.audit.client, beta);
    spdlog::debug("request {}: anthropic-beta '{}' is not one Bedrock takes for {} (anthropic.betas); not sent",
                  x.audit.request_id, beta, model);
  }
}

Headers sse_headers() {
  Headers h = content_type("text/event-stream");
  h.push_back({"Cache-Control", "no-cache"});
  return h;
}

}  // namespace signgate::gateway::surfaces
