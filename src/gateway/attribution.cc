#include "gateway/attribution.h"

#include <algorithm>

#include "api/request_metadata.h"
#include "common/strings.h"

namespace signgate::gateway {

void stamp_attribution(UpstreamCall& call, const auth::Client& client, std::string_view request_id) {
  if (call.mantle || call.openai_api || call.control_plane) return;
  const api::MetadataStamp stamp{client.name, request_id, client.request_metadata};
  switch (call.operation) {
    case aws::Operation::kInvoke:
    case aws::Operation::kInvokeStream: {
      const auto named = [](const http::Header& h) { return iequals(h.name, api::kRequestMetadataHeader); };
      const auto first = std::find_if(call.headers.begin(), call.headers.end(), named);
      if (first == call.headers.end()) {
        call.headers.push_back({std::string(api::kRequestMetadataHeader), api::stamp_metadata_header(stamp)});
        return;
      }
      // The caller's first field is merged; a second one would be a second value Bedrock reads.
      first->value = api::stamp_metadata_header(stamp, first->value);
      call.headers.erase(std::remove_if(std::next(first), call.headers.end(), named), call.headers.end());
      return;
    }
    case aws::Operation::kConverse:
    case aws::Operation::kConverseStream:
      // A body that is not a JSON object is left for Bedrock to refuse.
      api::stamp_converse_body(call.body, stamp);
      return;
    default: return;
  }
}

}  // namespace signgate::gateway
