#include "gateway/surfaces/passthrough.h"

#include <boost/asio/this_coro.hpp>

#include <algorithm>

#include "api/json_scan.h"
#include "api/service_tier.h"
#include "api/usage.h"
#include "gateway/abandoned.h"
#include "gateway/stream_relay.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;

namespace {

// Only the headers Bedrock's API defines for the operation (botocore's bedrock-runtime model):
// a caller cannot set other upstream options.
bool forwarded_request_header(std::string_view name, aws::Operation op) {
  if (iequals(name, "content-type") || iequals(name, "accept")) return true;
  if (op != aws::Operation::kInvoke && op != aws::Operation::kInvokeStream) return false;
  static constexpr std::string_view kInvokeHeaders[] = {"x-amzn-bedrock-accept",
                                                        "x-amzn-bedrock-trace",
                                                        "x-amzn-bedrock-guardrailidentifier",
                                                        "x-amzn-bedrock-guardrailversion",
                                                        "x-amzn-bedrock-performanceconfig-latency",
                                                        "x-amzn-bedrock-service-tier",
                                                        "x-amzn-bedrock-request-metadata"};
  return std::any_of(std::begin(kInvokeHeaders), std::end(kInvokeHeaders),
                     [&](std::string_view h) { return iequals(name, h); });
}

bool is_bedrock_header(std::string_view name) {
  constexpr std::string_view kPrefix = "x-amzn-bedrock-";
  return name.size() > kPrefix.size() && iequals(name.substr(0, kPrefix.size()), kPrefix);
}

bool is_json(const http::ResponseHead& head) {
  const std::string_view type = head.header("content-type");
  return type.empty() || type.find("json") != std::string_view::npos;
}

bool forwarded_response_header(std::string_view name) {
  return iequals(name, "content-type") || iequals(name, "x-amzn-errortype") || iequals(name, "x-amzn-requestid") ||
         iequals(name, "retry-after") || is_bedrock_header(name);
}

// When Bedrock's answer named no tier: the one the caller asked for (InvokeModel's header,
// Converse's serviceTier), which served it (Bedrock refuses a tier it cannot serve).
void note_asked_tier(Exchange& x) {
  if (!x.audit.service_tier.empty() || x.call == nullptr) return;
  for (const auto& h : x.call->headers) {
    if (iequals(h.name, "x-amzn-bedrock-service-tier") && api::tier_word(h.value)) {
      x.audit.service_tier = h.value;
      return;
    }
  }
  if (x.call->operation == aws::Operation::kConverse || x.call->operation == aws::Operation::kConverseStream) {
    if (auto tier = api::scan_string(x.call->body, "serviceTier", "type"); tier && api::tier_word(*tier)) {
      x.audit.service_tier = std::move(*tier);
    }
  }
}

// The event stream as it arrives, at frame boundaries, each frame CRC-checked. If the caller
// leaves, the rest is read unrelayed for Bedrock's usage (abandoned.h).
asio::awaitable<void> relay_frames(Exchange& x, UpstreamReply& reply, http::Responder& res, unsigned status,
                                   Headers headers) {
  const OpenStream counted(x.metrics);
  x.first_byte = SteadyClock::now();
  Unrelayed unrelayed(x, reply, co_await asio::this_coro::executor);
  FrameAligner frames;
  if (!co_await res.start_stream(status, std::move(headers))) {
    x.audit.error = "client went away before the stream began";
    unrelayed.begin();
  }
  // Ends the stream the way Bedrock does when it fails mid-answer: one exception frame.
  const auto fail_stream = [&](std::string why) -> asio::awaitable<void> {
    x.audit.error = why;
    if (co_await res.write(exception_frame("internalServerException", "signgate: " + why))) co_await res.finish();
  };
  for (;;) {
    auto piece = co_await reply.read_some();
    if (!piece) {
      if (unrelayed.active()) {
        unrelayed.failed("the upstream stream broke: " + piece.message());
      } else {
        co_await fail_stream("upstream stream broke: " + piece.message());
      }
      break;
    }
    if (piece->empty() && reply.done()) {
      if (unrelayed.active()) {
        if (frames.mid_frame()) {
          unrelayed.failed("the upstream stream ended inside a frame");
        } else {
          unrelayed.ended();
        }
      } else if (frames.mid_frame()) {
        co_await fail_stream("upstream stream ended inside a frame");
      } else {
        co_await res.finish();
      }
      break;
    }
    if (unrelayed.active() && !unrelayed.take(piece->size())) break;
    auto complete = frames.push(*piece);
    if (!complete) {
      if (unrelayed.active()) {
        unrelayed.failed("the upstream sent a corrupt " + complete.message());
      } else {
        co_await fail_stream("upstream sent a corrupt " + complete.message());
      }
      break;
    }
    if (unrelayed.active() || complete->empty()) continue;
    if (!co_await res.write(*complete)) {  // the next read waits for this write
      x.audit.error = "client went away mid-stream";
      unrelayed.begin();
    }
  }
  x.audit.bytes_out = res.bytes_written();
  audit_usage(x.audit, frames.usage);
  if (!frames.service_tier.empty()) x.audit.service_tier = frames.service_tier;  // ConverseStream's metadata
  x.stream.content_events = frames.content_events;
}

}  // namespace

asio::awaitable<std::optional<Refusal>> relay_bedrock_answer(Exchange& x, UpstreamReply& reply, http::Responder& res) {
  const http::ResponseHead& head = reply.head();
  Headers headers;
  for (const auto& h : head.headers) {
    if (forwarded_response_header(h.name)) headers.push_back({h.name, h.value});
  }
  // The tier that served it changes the price: InvokeModel says it in a header.
  if (const auto tier = head.header("X-Amzn-Bedrock-Service-Tier"); api::tier_word(tier)) {
    x.audit.service_tier = std::string(tier);
  }
  const bool answered = head.status >= 200 && head.status < 300;
  // Bedrock's 429/503 carries no Retry-After; once our retries are spent, tell the caller
  // when to come back instead of leaving it to guess (SDKs honour the header).
  if ((head.status == 429 || head.status == 503) && head.header("retry-after").empty()) {
    headers.push_back({"Retry-After", "1"});
  }
  if (is_event_stream(head)) {
    co_await relay_frames(x, reply, res, head.status, std::move(headers));
    if (answered) note_asked_tier(x);
    co_return std::nullopt;
  }
  auto body = co_await reply.read_all(kMaxAnswer);
  if (!body) {
    std::string detail = "Bedrock's answer broke off: " + body.message();
    Refusal refusal{502, "Bedrock's answer broke off", "", "", "ServiceUnavailableException", {}, std::move(detail)};
    co_return refusal;
  }
  x.first_byte = SteadyClock::now();
  x.audit.bytes_out = body->size();
  if (head.status == 200 && x.audit.operation == "converse") {
    // Converse says its usage and tier in the body.
    audit_usage(x.audit, api::scan_converse_usage(*body));
    if (auto tier = api::scan_string(*body, "serviceTier", "type"); tier && api::tier_word(*tier)) {
      x.audit.service_tier = std::move(*tier);
    }
  } else if (head.status == 200 && x.audit.operation == "invoke" && is_json(head)) {
    // InvokeModel's headers said the counts (read already); the body adds what they cannot
    // say (Anthropic's 1-hour cache writes), or all of it when they said nothing.
    audit_usage(x.audit, api::invoke_answer_usage(*body), true);
  }
  if (answered) note_asked_tier(x);
  co_await res.send(head.status, std::move(headers), std::move(*body));
  co_return std::nullopt;
}

http::HeaderList forwarded_request_headers(const http::RequestHead& head, aws::Operation op) {
  http::HeaderList out;
  for (const auto& f : head) {
    if (forwarded_request_header(f.name_string(), op))
      out.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  return out;
}

}  // namespace signgate::gateway::surfaces
