#include "gateway/bedrock_upstream.h"

#include "api/usage.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <random>

#include "gateway/bedrock_path.h"
#include "gateway/runtime.h"

namespace signgate::gateway {

namespace asio = boost::asio;

namespace {

// A retry needs at least this much of a route's deadline left after its backoff.
constexpr std::chrono::milliseconds kLeastRetry{50};

// The client's Response behind the pipeline's interface.
class BedrockReply final : public UpstreamReply {
 public:
  explicit BedrockReply(http::Response r) : response_(std::move(r)) {}
  const http::ResponseHead& head() const override { return response_.head(); }
  asio::awaitable<Result<std::string_view>> read_some() override { return response_.read_some(); }
  bool done() const override { return response_.done(); }
  void set_abort(std::shared_ptr<http::AbortSignal> abort) override { response_.set_abort(std::move(abort)); }

 private:
  http::Response response_;
};

}  // namespace

std::optional<std::uint64_t> to_count(std::string_view text) {
  // Capped as every count from Bedrock is (api/usage.h): a header that says 10^19 tokens must
  // not become a cost of billions or spend every budget at once.
  return api::token_count(text);
}

BedrockUpstream::BedrockUpstream(asio::any_io_executor executor, const http::ClientOptions& options, Metrics& metrics)
    : client_(std::move(executor), options), metrics_(metrics) {}

asio::awaitable<UpstreamResult> BedrockUpstream::send(const Runtime& rt, const UpstreamCall& call,
                                                      const aws::Credentials& credentials, const Destination& to) {
  // Mantle: "Amazon Bedrock Mantle ... SigV4 with the service name bedrock-mantle" (Bedrock's
  // user guide, bedrock-mantle.html; openai-node 6's Bedrock provider signs so, for
  // https://bedrock-mantle.{region}.api.aws/openai/v1). A route's target endpoint is a runtime's.
  const http::Url& endpoint = call.mantle              ? rt.mantle
                              : to.endpoint != nullptr ? *to.endpoint
                              : call.control_plane     ? rt.bedrock_control
                                                       : rt.bedrock;
  const std::string_view model = to.model.empty() ? std::string_view(call.model) : to.model;
  std::string path = call.path.empty() ? upstream_path(endpoint.path, ModelCall{std::string(model), call.operation})
                                       : (endpoint.path == "/" ? "" : endpoint.path) + call.path;
  http::Request up{call.method, std::move(path), call.query, {{"Host", endpoint.host_header()}}};
  up.headers.insert(up.headers.end(), call.headers.begin(), call.headers.end());
  if (call.method != "GET") up.headers.push_back({"Content-Length", std::to_string(call.body.size())});
  const std::string payload_hash = sha256_hex(call.body);
  const auto signing =
      aws::SigningOptions::for_service(call.mantle || to.region.empty() ? rt.config.aws.region : std::string(to.region),
                                       call.mantle ? "bedrock-mantle" : "bedrock");
  const int max_retries = to.max_retries < 0 ? rt.config.upstream.max_retries : to.max_retries;
  const auto started = std::chrono::steady_clock::now();
  UpstreamResult out;
  for (int attempt = 0;; ++attempt) {
    http::Request signed_req = up;
    signer_.sign(signed_req, payload_hash, credentials, signing);
    std::optional<std::chrono::milliseconds> head_timeout;
    if (to.head_timeout) {
      const auto spent = std::chrono::steady_clock::now() - started;
      head_timeout = *to.head_timeout - std::chrono::duration_cast<std::chrono::milliseconds>(spent);
      if (*head_timeout <= std::chrono::milliseconds(0)) head_timeout = std::chrono::milliseconds(1);
    }
    Result<http::Response> r = make_error("not sent");
    if (head_timeout) {
      r = co_await client_.send_head_within(endpoint, signed_req, call.body, *head_timeout, call.abort);
    } else {
      r = co_await client_.send(endpoint, signed_req, call.body, call.abort);
    }
    if (!r) {
      out.failure = make_error("Bedrock unreachable: " + r.message(), r.kind());
      co_return out;
    }
    const unsigned status = r->status();
    thread_local std::mt19937 rng{std::random_device{}()};
    const auto ceiling = std::chrono::milliseconds(100 << attempt);
    const auto backoff =
        ceiling / 2 + std::chrono::milliseconds(std::uniform_int_distribution<long>(0, ceiling.count() / 2)(rng));
    // A route's deadline that the wait would spend: this answer is the one to give.
    const bool time_left =
        !to.head_timeout || std::chrono::steady_clock::now() - started + backoff + kLeastRetry < *to.head_timeout;
    if ((status == 429 || status == 503) && attempt < max_retries && time_left &&
        !(call.abort && call.abort->fired())) {
      (void)co_await r->read_all(1 << 20);  // keeps the connection reusable
      metrics_.upstream_retry();
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(backoff);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;  // a caller gone meanwhile makes the next send fail at once
    }
    const http::ResponseHead& head = r->head();
    out.facts.status = head.status;
    out.facts.request_id = std::string(head.header("x-amzn-RequestId"));
    out.facts.input_tokens = to_count(head.header("X-Amzn-Bedrock-Input-Token-Count"));
    out.facts.output_tokens = to_count(head.header("X-Amzn-Bedrock-Output-Token-Count"));
    out.facts.cache_read_tokens = to_count(head.header("X-Amzn-Bedrock-Cache-Read-Input-Token-Count"));
    out.facts.cache_write_tokens = to_count(head.header("X-Amzn-Bedrock-Cache-Write-Input-Token-Count"));
    if (head.status >= 400) out.facts.error_type = std::string(head.header("x-amzn-ErrorType"));
    out.reply = std::make_unique<BedrockReply>(std::move(*r));
    co_return out;
  }
}

}  // namespace signgate::gateway
