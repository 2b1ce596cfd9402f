// What the translating surfaces (OpenAI, Anthropic) share: Bedrock's error answers as
// refusals, and relaying an event stream through a translator as server-sent events.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>

#include "api/anthropic/messages.h"
#include "aws/eventstream.h"
#include "gateway/abandoned.h"
#include "gateway/exchange.h"
#include "gateway/refusal.h"
#include "gateway/stream_relay.h"
#include "gateway/upstream.h"
#include "http/server.h"

namespace signgate::gateway::surfaces {

// The largest whole (unstreamed) answer a translating surface reads.
inline constexpr std::size_t kMaxAnswer = 64 * 1024 * 1024;

// Bedrock's error answer (x-amzn-ErrorType + {"message"}) as a refusal in any dialect: the
// status and type map through (a model timeout becomes 504). The message is Bedrock's with every
// ARN, account ID and role name taken out (aws/scrub_identity.h); a 401 or 403, which is about
// signgate's own AWS identity, gets a short message naming `request_id` instead. Bedrock's full
// text, when the caller does not get it, is logged (rate-limited) and kept for the audit line.
Refusal bedrock_refusal(const http::ResponseHead& head, const std::string& body, const std::string& request_id);

// Reads an error answer's body (at most 1 MiB) and makes it a refusal.
boost::asio::awaitable<Refusal> refusal_from(const Exchange& x, UpstreamReply& reply);

// A whole answer that could not be read (broken off, too large): 502, the detail logged.
Refusal unreadable_answer(const Exchange& x, std::string detail);
// Bedrock's JSON answer read whole but not usable: not a JSON object, or nested deeper than
// limits.max_json_depth (`too_deep`).
Refusal unusable_json_answer(const Exchange& x, bool too_deep);

// A Converse or ConverseStream call of `model_id` with `body` (a translated request).
UpstreamCall converse_call(const std::string& model_id, bool stream, const nlohmann::json& body);

// Reads a whole JSON answer (Converse's, say) as an object: a refusal when it broke off, is
// too large, nests deeper than limits.max_json_depth (a hostile or prompt-injected answer)
// or is not an object. Marks the first byte, and audits the Converse usage it states.
boost::asio::awaitable<std::variant<nlohmann::json, Refusal>> read_json_answer(Exchange& x, UpstreamReply& reply);

// Puts the end user a caller names (OpenAI's user field) in the audit line, cut to 256 bytes.
void note_user(Exchange& x, std::string_view user);

// The anthropic-beta values of the request (every field, comma-separated), with the runtime's
// policy choosing the betas forwarded for the request's model.
api::anthropic::Betas requested_betas(const Exchange& x, const http::RequestHead& head);
// Counts the betas a request for `model` asked for that were not forwarded (a metric, a debug log
// line naming the model).
void count_dropped(const Exchange& x, const std::vector<std::string>& dropped, std::string_view model);

// Content-Type: text/event-stream, no caching.
Headers sse_headers();

// Relays an event stream, decoded frame by frame, through `t` (on_message → text, error →
// text); each piece is written before the next is read. If the upstream fails mid-stream, an
// error event ends the relay and `error` says why (for the audit line). If the caller leaves
// (or is gone already: `relaying` false), the rest is read unrelayed through `t` for Bedrock's
// usage (abandoned.h). Returns whether the caller is still there to be sent the end of the
// stream.
template <class Translator>
boost::asio::awaitable<bool> relay_events(Exchange& x, UpstreamReply& answer, http::Responder& res, Translator& t,
                                          std::string& error, bool relaying = true) {
  aws::eventstream::Decoder decoder;
  Unrelayed unrelayed(x, answer, co_await boost::asio::this_coro::executor);
  if (!relaying) {
    error = "client went away before the stream began";
    unrelayed.begin();
  }
  for (;;) {
    auto piece = co_await answer.read_some();
    if (!piece) {
      if (unrelayed.active()) {
        unrelayed.failed("the upstream stream broke: " + piece.message());
        co_return false;
      }
      error = "upstream stream broke: " + piece.message();
      co_return co_await res.write(t.error("signgate: " + error));
    }
    if (piece->empty() && answer.done()) {
      if (unrelayed.active()) {
        if (decoder.idle()) {
          unrelayed.ended();
        } else {
          unrelayed.failed("the upstream stream ended inside a frame");
        }
        co_return false;
      }
      if (!decoder.idle()) {
        error = "upstream stream ended inside a frame";
        co_return co_await res.write(t.error("signgate: " + error));
      }
      co_return true;
    }
    if (unrelayed.active() && !unrelayed.take(piece->size())) co_return false;
    std::string out;
    std::string_view rest = *piece;
    while (!rest.empty()) {
      auto r = decoder.feed(rest);
      if (r.error != aws::eventstream::Error::kNone) {
        const std::string why =
            "upstream sent a corrupt event stream: " + std::string(aws::eventstream::to_string(r.error));
        if (unrelayed.active()) {
          unrelayed.failed(why);
          co_return false;
        }
        error = why;
        out += t.error("signgate: " + error);
        co_return co_await res.write(out);
      }
      rest.remove_prefix(r.consumed);
      if (r.message) {
        if (is_content_event(*r.message)) ++x.stream.content_events;
        out += t.on_message(*r.message);  // unrelayed too: the translator reads the usage
      }
    }
    if (unrelayed.active() || out.empty()) continue;
    if (!co_await res.write(out)) {
      error = "client went away mid-stream";
      unrelayed.begin();
    }
  }
}

}  // namespace signgate::gateway::surfaces
