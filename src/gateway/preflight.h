// What `serve` needs beyond a config that parses: clients to serve, a writable audit
// directory, TLS files that load, aliases some client may call. `serve` (at start and on
// reload) and `check-config` ask the same question, so check-config refuses what serve would.
#pragma once

#include <string>

#include "common/result.h"
#include "config/config.h"

namespace signgate::gateway {

// Every problem as "FILE: KEY: reason", one per line; empty when the config can be served.
std::string serve_problems(const config::Config& cfg);

// What is served but probably not what was meant, in the same form: a route no client's
// allowlist can reach, a route an earlier one always takes first.
std::string serve_warnings(const config::Config& cfg);

}  // namespace signgate::gateway
