// The Bedrock-native surface: POST /model/{modelId}/{operation}, byte for byte. The body and
// Bedrock's own headers for the operation go upstream re-signed; the answer (errors
// included) comes back as Bedrock sent it, event streams frame by frame.
#include "gateway/surfaces/surfaces.h"

#include <boost/asio/use_awaitable.hpp>

#include "gateway/bedrock_path.h"
#include "gateway/stream_relay.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;

namespace {

bool is_bedrock_header(std::string_view name) {
  constexpr std::string_view kPrefix = "x-amzn-bedrock-";
  return name.size() > kPrefix.size() && iequals(name.substr(0, kPrefix.size()), kPrefix);
}

bool forwarded_response_header(std::string_view name) {
  return iequals(name, "content-type") || iequals(name, "x-amzn-errortype") || iequals(name, "x-amzn-requestid") ||
         iequals(name, "retry-after") || is_bedrock_header(name);
}

// Only the headers Bedrock's API defines for the operation are signed and forwarded
// (botocore's bedrock-runtime model): a caller cannot set other upstream options.
bool forwarded_request_header(std::string_view name, aws::Operation op) {
  if (iequals(name, "content-type") || iequals(name, "accept")) return true;
  if (op != aws::Operation::kInvoke && op != aws::Operation::kInvokeStream) return false;
  static constexpr std::string_view kInvokeHeaders[] = {
      "x-amzn-bedrock-accept",          "x-amzn-bedrock-trace",
      "x-amzn-bedrock-guardrailidentifier", "x-amzn-bedrock-guardrailversion",
      "x-amzn-bedrock-performanceconfig-latency", "x-amzn-bedrock-service-tier"};
  return std::any_of(std::begin(kInvokeHeaders), std::end(kInvokeHeaders),
                     [&](std::string_view h) { return iequals(name, h); });
}

class BedrockNative final : public Surface {
 public:
  std::string_view name() const override { return "bedrock"; }
  Dialect dialect() const override { return Dialect::kBedrock; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead& head) const override {
    std::string error;
    auto parsed = parse_model_path(head.target(), &error);
    if (!parsed) return Refusal{404, error, "", "", "UnknownOperationException"};
    return HeadPlan{parsed->operation, std::move(parsed->model_id), {}};
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange&, const HeadPlan& hp, const http::RequestHead& head,
                                                std::string body) const override {
    Plan p;
    p.call.operation = *hp.operation;
    p.call.model = hp.model;
    for (const auto& f : head) {
      if (forwarded_request_header(f.name_string(), p.call.operation)) {
        p.call.headers.push_back({std::string(f.name_string()), std::string(f.value())});
      }
    }
    p.call.body = std::move(body);
    return p;
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan&, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    const http::ResponseHead& head = reply.head();
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
    co_await res.send(head.status, std::move(headers), std::move(*body));
    co_return std::nullopt;
  }

 private:
  // The event stream as it arrives, at frame boundaries, each frame CRC-checked.
  static asio::awaitable<void> relay_frames(Exchange& x, UpstreamReply& reply, http::Responder& res, unsigned status,
                                            Headers headers) {
    x.metrics->stream_opened();
    x.first_byte = SteadyClock::now();
    bool ok = co_await res.start_stream(status, std::move(headers));
    FrameAligner frames;
    // Ends the stream the way Bedrock does when it fails mid-answer: one exception frame.
    const auto fail_stream = [&](std::string why) -> asio::awaitable<void> {
      x.audit.error = why;
      if (!ok) co_return;
      if (co_await res.write(exception_frame("internalServerException", "signgate: " + why))) co_await res.finish();
    };
    while (ok) {
      auto piece = co_await reply.read_some();
      if (!piece) {
        co_await fail_stream("upstream stream broke: " + piece.message());
        break;
      }
      if (piece->empty() && reply.done()) {
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
      if (!ok) x.audit.error = "client went away mid-stream";
    }
    x.audit.bytes_out = res.bytes_written();
    if (frames.input_tokens) x.audit.input_tokens = frames.input_tokens;
    if (frames.output_tokens) x.audit.output_tokens = frames.output_tokens;
    x.metrics->stream_closed();
  }
};

}  // namespace

const Surface& bedrock_native() {
  static const BedrockNative surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
