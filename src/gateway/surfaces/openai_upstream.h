// The OpenAI surfaces' path for models Bedrock serves through its OpenAI-compatible API
// (models: {id, api: openai}): the request goes on as it is (api/openai/openai_upstream.h) to
// Mantle (signed for bedrock-mantle) or bedrock-runtime's /openai/v1, and the answer, whole or
// streamed, comes back as it is, with the caller's model name, its usage audited and charged.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "api/openai/openai_upstream.h"
#include "gateway/exchange.h"
#include "gateway/refusal.h"
#include "gateway/surface.h"
#include "gateway/upstream.h"
#include "http/server.h"

namespace signgate::gateway::surfaces {

struct OpenAIPassState final : PlanState {
  explicit OpenAIPassState(api::openai::OpenAIUpstreamRequest r) : request(std::move(r)) {}
  api::openai::OpenAIUpstreamRequest request;
};

// The Bedrock ID of the model `request` names (an alias resolved) when it is an api: openai
// model; nullopt otherwise.
std::optional<std::string> openai_model(const Exchange& x, const nlohmann::json& request);

// The plan for such a request: the call to the OpenAI-compatible endpoint. For the allowlist,
// the limits and the audit line it is a Converse call (converse or converse-stream).
Plan openai_plan(const Exchange& x, api::openai::OpenAIUpstreamRequest request);

// Relays the answer. `completed`, when given, runs once a Responses answer is complete and
// before the caller reads so (signgate's store keeps it there).
using OnCompleted = std::function<boost::asio::awaitable<void>(const api::openai::OpenAIAnswerFacts&)>;
boost::asio::awaitable<std::optional<Refusal>> answer_openai(Exchange& x, const api::openai::OpenAIUpstreamRequest& r,
                                                             UpstreamReply& reply, http::Responder& res,
                                                             const OnCompleted& completed);

}  // namespace signgate::gateway::surfaces
