// Where a planned call goes: an interface, so the pipeline neither knows nor cares that it is
// Bedrock (hosts, signing, /model/{id}/{op} paths live behind it), and tests can put a fake in
// its place. Other providers plug in here.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aws/bedrock_operation.h"
#include "aws/credentials.h"
#include "common/result.h"
#include "http/abort.h"
#include "http/message.h"
#include "http/url.h"

namespace signgate::gateway {

struct Runtime;

// One call a surface planned: what the policy checks (operation, model) and what is sent.
struct UpstreamCall {
  aws::Operation operation = aws::Operation::kInvoke;
  std::string model;  // decoded model ID, inference profile or ARN; empty: the call names none
  std::string asked;  // the model as the caller named it when that was an alias (routes match it)
  std::string method = "POST";
  // For calls that are not /model/{id}/{operation}: the path (wire form, below the endpoint's
  // own path) and query; and whether it is the control plane's rather than the runtime's.
  std::string path;
  std::string query;
  bool control_plane = false;
  // Bedrock's OpenAI-compatible Mantle endpoint (bedrock-mantle.{region}.api.aws), signed for
  // "bedrock-mantle", rather than bedrock-runtime (signed for "bedrock").
  bool mantle = false;
  // A request of Bedrock's OpenAI-compatible API (models: api: openai), on Mantle or on
  // bedrock-runtime's /openai/v1: neither routes nor guardrails apply to it.
  bool openai_api = false;
  http::HeaderList headers;  // besides Host, Content-Length and the signature
  std::string body;
  // The caller's (null when its protocol cannot tell): once fired, the call and the reading
  // of its answer stop at once.
  std::shared_ptr<http::AbortSignal> abort;
};

// What the upstream said about a call, for the audit log: provider-neutral names.
struct UpstreamFacts {
  unsigned status = 0;
  std::string request_id;  // the provider's, for support cases
  std::string error_type;  // e.g. "ThrottlingException"; empty on success
  std::optional<std::uint64_t> input_tokens;
  std::optional<std::uint64_t> output_tokens;
  // Prompt-cache tokens, from X-Amzn-Bedrock-Cache-{Read,Write}-Input-Token-Count (InvokeModel).
  std::optional<std::uint64_t> cache_read_tokens;
  std::optional<std::uint64_t> cache_write_tokens;
};

// An answer whose head has arrived; the body is read piece by piece at the caller's pace.
class UpstreamReply {
 public:
  virtual ~UpstreamReply() = default;
  virtual const http::ResponseHead& head() const = 0;
  // The next piece; an empty view once the body is complete (done() is then true).
  virtual boost::asio::awaitable<Result<std::string_view>> read_some() = 0;
  virtual bool done() const = 0;
  // Who stops the reading from now on: the caller's signal given to send() until then; null
  // reads on though the caller left (a stream Bedrock bills to its end), another signal (a
  // deadline's) stops it instead.
  virtual void set_abort(std::shared_ptr<http::AbortSignal> abort) = 0;

  unsigned status() const { return head().status; }
  // The rest of the body; a kTooLarge error once it grows past `limit` bytes.
  boost::asio::awaitable<Result<std::string>> read_all(std::size_t limit);
};

struct UpstreamResult {
  std::unique_ptr<UpstreamReply> reply;  // set when the upstream answered, whatever the status
  UpstreamFacts facts;
  Error failure;  // else why not: a kTimeout becomes 504, anything else 502
};

// Where one attempt of a call goes when a route chose it (routes.h); the defaults are the
// runtime's own endpoint and region, the call's model and upstream.max_retries.
struct Destination {
  const http::Url* endpoint = nullptr;  // the runtime endpoint to use instead of aws:'s
  std::string_view region;              // the region to sign for instead of aws.region
  std::string_view model;               // the model to send instead of call.model
  int max_retries = -1;                 // throttles retried in place; -1: upstream.max_retries
  // The answer's head must arrive within this (what is left of a route's deadline).
  std::optional<std::chrono::milliseconds> head_timeout;
};

// One per event loop (it owns that loop's connection pool): not thread-safe.
class Upstream {
 public:
  virtual ~Upstream() = default;
  // Sends `call` with `credentials`, as `rt` says where and how, unless `to` says otherwise.
  virtual boost::asio::awaitable<UpstreamResult> send(const Runtime& rt, const UpstreamCall& call,
                                                      const aws::Credentials& credentials, const Destination& to) = 0;
  // A coroutine itself: the Destination must outlive the call it describes.
  boost::asio::awaitable<UpstreamResult> send(const Runtime& rt, const UpstreamCall& call,
                                              const aws::Credentials& credentials) {
    const Destination defaults;
    co_return co_await send(rt, call, credentials, defaults);
  }
};

}  // namespace signgate::gateway
