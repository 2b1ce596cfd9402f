#include "gateway/surfaces/passthrough.h"

#include <boost/asio/this_coro.hpp>

#include <algorithm>

#include "api/json_scan.h"
#include "api/service_tier.h"
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
                                                        "x-amzn-bedrock-service-tier"};
  return std::any_of(std::begin(kInvokeHeaders), std::end(kInvokeHeaders),
                     [&](std::string_view h) { return iequals(name, h); });
}

bool is_bedrock_header(std::string_view name) {
  constexpr std::string_view kPrefix = "x-amzn-bedrock-";
  return name.size() > kPrefix.size() && iequals(name.substr(0, kPrefix.size()), kPrefix);
}

bool forwarded_response_header(std::string_view name) {
  return iequals(name, "content-type") || iequals(name, "x-amzn-errortype") || iequals(name, "x-amzn-requestid") ||
         iequals(name, "retry-after") || is_bedrock_header(name);
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
  if (frames.input_tokens) x.audit.input_tokens = frames.input_tokens;
  if (frames.output_tokens) x.audit.output_tokens = frames.output_tokens;
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
  // Bedrock's 429/503 carries no Retry-After; once our retries are spent, tell the caller
  // when to come back instead of leaving it to guess (SDKs honour the header).
  if ((head.status == 429 || head.status == 503) && head.header("retry-after").empty()) {
    headers.push_back({"Retry-After", "1"});
  }
  if (is_event_stream(head)) {
    co_await relay_frames(x, reply, res, head.status, std::move(headers));
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
  // Converse says its usage in the body (InvokeModel in headers, read already): what the
  // client spent, for the audit line and its token limits.
  if (head.status == 200 && !x.audit.input_tokens && !x.audit.output_tokens && x.audit.operation == "converse") {
    const api::ScannedUsage usage = api::scan_converse_usage(*body);
    x.audit.input_tokens = usage.input;
    x.audit.output_tokens = usage.output;
  }
  if (head.status == 200 && x.audit.operation == "converse" && x.audit.service_tier.empty()) {
    if (auto tier = api::scan_string(*body, "serviceTier", "type"); tier && api::tier_word(*tier)) {
      x.audit.service_tier = std::move(*tier);  // Converse says it in the body
    }
  }
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
