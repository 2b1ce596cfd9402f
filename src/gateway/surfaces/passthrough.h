// What the Bedrock-native surfaces share: Bedrock's answer relayed as Bedrock sent it (status,
// its own headers, the body; event streams frame by frame), and the headers they forward.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "common/percent.h"

#include "gateway/exchange.h"
#include "gateway/refusal.h"
#include "gateway/upstream.h"
#include "http/server.h"

namespace signgate::gateway::surfaces {

// Relays `reply` whatever its status: Content-Type, x-amzn-ErrorType, x-amzn-RequestId,
// Retry-After and x-amzn-bedrock-* headers, the body (whole, or an event stream frame by
// frame, CRC-checked, ending with an exception frame if the upstream breaks). A 429/503
// without Retry-After gets "Retry-After: 1". A Refusal when a whole body broke off.
boost::asio::awaitable<std::optional<Refusal>> relay_bedrock_answer(Exchange& x, UpstreamReply& reply,
                                                                    http::Responder& res);

// The caller's headers that go upstream with a pass-through call: only Content-Type and
// Accept, plus for InvokeModel the x-amzn-bedrock-* headers Bedrock's API defines for it.
http::HeaderList forwarded_request_headers(const http::RequestHead& head, aws::Operation op);

// The caller's query, kept to the parameters the operation defines (`known`, wire names),
// re-encoded; the SDKs' "typeEquals" is the wire's "type".
template <std::size_t N>
std::string forwarded_query(std::string_view query, const std::string_view (&known)[N]) {
  std::string out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    std::string name = uri_decode(pair.substr(0, eq));
    if (name == "typeEquals") name = "type";  // the SDK's member name for the wire's "type"
    const std::string value = eq == std::string_view::npos ? std::string() : uri_decode(pair.substr(eq + 1));
    if (std::find(std::begin(known), std::end(known), name) != std::end(known) && value.size() <= 2048) {
      if (!out.empty()) out.push_back('&');
      out += name + "=";
      uri_encode(value, out);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace signgate::gateway::surfaces
