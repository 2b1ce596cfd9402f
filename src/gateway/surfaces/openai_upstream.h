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
#include <string_view>
#include <variant>

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

// Makes the request for Bedrock's OpenAI API from the caller's body, the model as it named it
// and Bedrock's ID (chat_for_openai, or responses_for_openai with the client's store).
using OpenAIRequestMaker = std::function<std::variant<api::openai::OpenAIUpstreamRequest, api::openai::ApiError>(
    const nlohmann::json& request, const std::string& model_name, const std::string& model_id)>;

// The plan for a body whose model (an alias resolved) is an api: openai model: the call to the
// OpenAI-compatible endpoint, or the refusal; nullopt for any other model, which the
// translating path plans. Until the model is known to be one, only its field is scanned (no
// second parse of every body). For the allowlist, the limits and the audit line the call is a
// Converse call (converse or converse-stream).
std::optional<std::variant<Plan, LocalAnswer, Refusal>> plan_openai(Exchange& x, std::string_view body,
                                                                    const OpenAIRequestMaker& make);

// Relays the answer. `completed`, when given, runs once a Responses answer is complete and
// before the caller reads so (signgate's store keeps it there).
using OnCompleted = std::function<boost::asio::awaitable<void>(const api::openai::OpenAIAnswerFacts&)>;
boost::asio::awaitable<std::optional<Refusal>> answer_openai(Exchange& x, const api::openai::OpenAIUpstreamRequest& r,
                                                             UpstreamReply& reply, http::Responder& res,
                                                             const OnCompleted& completed);

}  // namespace signgate::gateway::surfaces
