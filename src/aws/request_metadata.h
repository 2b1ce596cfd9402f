// Bedrock's per-request metadata grammar (botocore's RequestMetadata, RequestMetadataKeyString,
// RequestMetadataValueString): at most 16 pairs, keys of 1-256 and values of 0-256 characters
// from [a-zA-Z0-9\s:_@$#=/+,-.]; on InvokeModel the X-Amzn-Bedrock-Request-Metadata header. And
// the two keys signgate stamps on every call itself. Shared by the config (clients'
// request_metadata) and the stamp (api/request_metadata.h).
#pragma once

#include <cstddef>
#include <string_view>

namespace signgate::aws {

inline constexpr std::size_t kMaxRequestMetadataPairs = 16;
inline constexpr std::size_t kMaxRequestMetadataText = 256;
inline constexpr std::string_view kRequestMetadataHeader = "X-Amzn-Bedrock-Request-Metadata";
inline constexpr std::string_view kStampClientKey = "signgate_client";
inline constexpr std::string_view kStampRequestKey = "signgate_request_id";

// A character Bedrock's pattern takes (Java's \s is space, \t, \n, \v, \f, \r).
constexpr bool request_metadata_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
         (c >= '\t' && c <= '\r') ||
         std::string_view(":_@$#=/+,-.").find(static_cast<char>(c)) != std::string_view::npos;
}

// Whether Bedrock accepts `text` as a metadata key (`key`: not empty) or value.
constexpr bool valid_request_metadata_text(std::string_view text, bool key) {
  if (text.size() > kMaxRequestMetadataText || (key && text.empty())) return false;
  for (const char c : text) {
    if (!request_metadata_char(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace signgate::aws
