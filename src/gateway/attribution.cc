#include "gateway/attribution.h"

#include <algorithm>

#include "api/request_metadata.h"
#include "common/strings.h"

namespace signgate::gateway {

bool stamp_attribution(UpstreamCall& call, const auth::Client& client, std::string_view request_id) {
  if (call.mantle || call.openai_api || call.control_plane) return true;
  const api::MetadataStamp stamp{client.name, request_id, client.request_metadata};
  switch (call.operation) {
    case aws::Operation::kInvoke:
    case aws::Operation::kInvokeStream: {
      const auto named = [](const http::Header& h) { return iequals(h.name, api::kRequestMetadataHeader); };
      const auto first = std::find_if(call.headers.begin(), call.headers.end(), named);
      if (first == call.headers.end()) {
        call.headers.push_back({std::string(api::kRequestMetadataHeader), api::stamp_metadata_header(stamp)});
        return true;
      }
      // The caller's first field is merged; a second one would be a second value Bedrock reads.
      first->value = api::stamp_metadata_header(stamp, first->value);
      call.headers.erase(std::remove_if(std::next(first), call.headers.end(), named), call.headers.end());
      return true;
    }
    case aws::Operation::kConverse:
    case aws::Operation::kConverseStream:
      // Not left for Bedrock to refuse: a parser that reads UTF-16 or UTF-32 JSON would take the
      // caller's requestMetadata, signgate_client included, as it is.
      return api::stamp_converse_body(call.body, stamp);
    default: return true;
  }
}

}  // namespace signgate::gateway
