// A surface is one API a caller speaks (Bedrock-native, OpenAI chat, Anthropic Messages, ...):
// it reads the request, plans the upstream call, relays the answer, and renders refusals in its
// dialect. The pipeline (pipeline.h) runs the steps in between, the same for every surface.
// A new surface is one file under surfaces/ and one line in the route table (router.cc).
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/exchange.h"
#include "gateway/refusal.h"
#include "gateway/upstream.h"
#include "http/server.h"

namespace signgate::gateway {

// What the head alone says.
struct HeadPlan {
  std::optional<aws::Operation> operation;  // when the path names it
  std::string model;                        // when the path names it (decoded)
  std::string_view label;                   // the audit's operation for a local answer ("models")
};

// What a surface keeps between planning a call and answering it (the parsed request, say).
struct PlanState {
  virtual ~PlanState() = default;
};

struct Plan {
  UpstreamCall call;
  std::unique_ptr<PlanState> state;  // handed back to answer(); may be null
};

// An answer made locally, without an upstream call (a model list, say).
struct LocalAnswer {
  unsigned status = 200;
  Headers headers;
  std::string body;
};

class Surface {
 public:
  virtual ~Surface() = default;

  // The audit log's and the metrics' name: "bedrock", "openai", "anthropic".
  virtual std::string_view name() const = 0;
  // The dialect refusals are rendered in.
  virtual Dialect dialect() const = 0;

  // 1. From the path and headers only, before the caller is authenticated: a Refusal (404 for
  //    a path this surface does not know, 405) or what the head names.
  virtual std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead& head) const = 0;

  // 4. From the body, once authenticated: the upstream call, a local answer, or a Refusal.
  //    Local answers are still the client's traffic and count against its rate limit.
  virtual std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan& hp, const http::RequestHead& head,
                                                        std::string body) const = 0;

  // 4, for a surface whose planning waits on something (what the fleet's shared store holds:
  // a stored conversation, who started an invocation): plans_async() says so, and the
  // pipeline awaits plan_async() instead of calling plan().
  virtual bool plans_async() const { return false; }
  virtual boost::asio::awaitable<std::variant<Plan, LocalAnswer, Refusal>> plan_async(Exchange& x, const HeadPlan& hp,
                                                                                      const http::RequestHead& head,
                                                                                      std::string body) const;

  // 7. Relays the upstream's answer (any status) to the caller, streamed or whole; the
  //    caller's pace is the pace. A Refusal (nothing sent yet) for the pipeline to render.
  virtual boost::asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                                http::Responder& res) const = 0;

  // The caller-facing form of a refusal: by default this surface's dialect.
  virtual Rendered render(const Refusal& r, std::string_view request_id) const {
    return gateway::render(dialect(), r, request_id);
  }
};

}  // namespace signgate::gateway
