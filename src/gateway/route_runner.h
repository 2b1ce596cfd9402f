// Step 6 for every surface: a call goes upstream through its route when one matches (SPEC §7)
// and as before when none does. The runner tries the route's targets in strategy order,
// sticky key first, ejected targets last; it fails over only on the kinds the route lists and
// only before the caller has a byte: a stream commits once its first content event arrives.
// Surfaces do not know routes exist.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/exchange.h"
#include "gateway/route_state.h"
#include "gateway/routes.h"
#include "gateway/upstream.h"

namespace signgate::gateway {

// Sends `call` for `x` (authorized: x.upstream, x.credentials set; x.route when routed) and
// fills the audit's route, target, region, identity, target_model and attempts.
boost::asio::awaitable<UpstreamResult> send_call(Exchange& x, const UpstreamCall& call);

// The failure kind (config::FailKind) of an answer or a failed send; 0 for a success or a
// failure that no route fails over on (a 400 ValidationException, say).
unsigned failure_kind(const UpstreamResult& r);
// The kind of an exception event inside a 200 event stream ("throttlingException", ...).
unsigned stream_exception_kind(std::string_view exception_type);
// "ok", a kind's name, or "other": the outcome label of an attempt.
std::string_view outcome_name(unsigned kind, unsigned status);

// The key a sticky route keeps a call's target under: the route and client, and with
// sticky: prefix a hash of the prompt's cacheable prefix (the system prompt, the tools and the
// messages up to the last cache point; else the system prompt and the first message; else the
// body's first 4 KiB). nullopt when the route is not sticky.
std::optional<std::uint64_t> sticky_key(const ModelRoute& route, std::string_view client, const UpstreamCall& call,
                                        int max_json_depth);

// The order a call tries `route`'s targets in, given the targets' standing now: healthy and
// half-open targets by strategy (weighted: a draw by weight, `draw` in [0, 1) per pick), the
// sticky target first when it serves; only when every target is ejected, the least recently
// failed one alone.
std::vector<const RouteTarget*> attempt_order(const ModelRoute& route, std::string_view client,
                                              const std::string& model, TargetHealth& health,
                                              RouteClock::time_point now, const std::optional<std::string>& sticky,
                                              const std::function<double()>& draw);

// The ejection key of a target for `client`'s call that asked for `model`: the region, the
// identity (with the role it stands for: "default" is each client's own) and the model as sent.
std::string target_key(const RouteTarget& t, std::string_view client, const std::string& model);
// Whether a target is ejected now, for any model it sends.
bool target_ejected(const RouteTarget& t, const TargetHealth& health, RouteClock::time_point now);

}  // namespace signgate::gateway
