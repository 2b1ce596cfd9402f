// Whole small files (profiles, tokens, configs): read at start-up or refresh, never on a request path.
#pragma once

#include <optional>
#include <string>

namespace signgate {

// The file's bytes, or nullopt when it cannot be opened.
std::optional<std::string> read_file(const std::string& path);

}  // namespace signgate
