// Standard base64 (RFC 4648 §4, padded), as AWS event-stream and Anthropic chunks use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace signgate {

std::string base64_encode(std::string_view bytes);

// Returns nullopt for input that is not valid padded base64 (length, alphabet or padding).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace signgate
