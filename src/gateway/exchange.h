// One request as it goes through the pipeline: what it leaves in the audit log and the
// metrics, and whom it was authenticated as, against which configuration generation.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "auth/clients.h"
#include "gateway/audit.h"
#include "gateway/memory.h"
#include "gateway/metrics.h"
#include "gateway/refusal.h"
#include "gateway/route_state.h"
#include "gateway/routes.h"
#include "gateway/runtime.h"
#include "gateway/upstream.h"
#include "http/abort.h"

namespace signgate::http {
class Responder;
}

namespace signgate::gateway {

using SteadyClock = std::chrono::steady_clock;

class Limits;

// A streamed answer as the relay saw it: whether its caller left before the end, and what an
// estimate of its tokens would go on (settle_abandoned, abandoned.h).
struct StreamWatch {
  bool caller_left = false;
  bool read_to_end = false;          // after the caller left, Bedrock's stream was read to its end
  std::string stopped;               // else why the reading stopped
  std::uint64_t content_events = 0;  // contentBlockDelta events, or chunks of an InvokeModel stream
};

struct Exchange {
  SteadyClock::time_point start = SteadyClock::now();
  AuditRecord audit;
  std::optional<SteadyClock::time_point> first_byte;
  // The model becomes a metrics label only once the client's policy allowed it: nobody
  // chooses what /metrics keeps by sending model names.
  bool model_allowed = false;
  // The generation the caller was authenticated against: a reload in between cannot pair a
  // client of one generation with the tables of the next.
  std::shared_ptr<const Runtime> runtime;
  const auth::Client* client = nullptr;  // set once authenticated
  Metrics* metrics = nullptr;
  // What the gateway remembers between requests (stored responses, who started which async
  // invocation): the loop's view of this replica's copy and, with redis:, the fleet's.
  Memory* memory = nullptr;
  // Set once authorized (step 5): a surface that makes more than one call (embeddings of many
  // texts) sends the others through the same upstream with the same credentials.
  Upstream* upstream = nullptr;
  std::shared_ptr<const aws::Credentials> credentials;  // the client's own identity's
  // The route the call's model matched (null: none; credentials above then sign it), and what
  // the process's routes have learnt (ejections, sticky targets): route_runner.h sends through it.
  const ModelRoute* route = nullptr;
  RouteState* route_state = nullptr;
  const UpstreamCall* call = nullptr;  // set once sent (step 6)
  StreamWatch stream;
  // The caller's answer and what tells that it went away (null: its protocol cannot tell).
  const http::Responder* caller = nullptr;
  Limits* limits = nullptr;  // the loop's: what the answer used is charged at the end
  // Some of the request's upstream calls were answered (and billed) though the request failed
  // (an embeddings fan-out with one call refused): their usage is priced and charged all the same.
  bool billed = false;
  std::shared_ptr<http::AbortSignal> abort;

  bool caller_gone() const { return abort && abort->fired(); }

  const config::Config& config() const { return runtime->config; }
};

// Counts a stream in signgate_open_streams for as long as it lives, however its relay ends.
class OpenStream {
 public:
  explicit OpenStream(Metrics* m) : m_(m) { m_->stream_opened(); }
  ~OpenStream() { m_->stream_closed(); }
  OpenStream(const OpenStream&) = delete;
  OpenStream& operator=(const OpenStream&) = delete;

 private:
  Metrics* m_;
};

// A random 128-bit id in hex, as the audit log and the answers name a request.
std::string new_request_id();

// Headers built outside co_await expressions: GCC 12 miscompiles braced lists of string
// literals there.
inline Headers content_type(std::string type) { return Headers{{"Content-Type", std::move(type)}}; }

}  // namespace signgate::gateway
