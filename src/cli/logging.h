// The serve command's log: stderr, at a chosen level, as text for people or as one JSON
// object per line for log shippers (`--log-format json`). Never a secret: callers log
// roles, sessions, request ids and reasons only.
#pragma once

#include <string>

namespace signgate::cli {

// `level`: debug, info, warn or error; `format`: text or json. Both already validated.
void configure_logging(const std::string& level, const std::string& format);

// Other commands report on stdout/stderr themselves: background warnings (a credential
// refresh, say) would interleave with that output, so they are switched off.
void silence_logging();

}  // namespace signgate::cli
