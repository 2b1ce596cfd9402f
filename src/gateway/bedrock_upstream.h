// The Bedrock runtime as the upstream: the call's body byte for byte to
// /model/{id}/{operation}, signed anew with SigV4 for the client's identity, over this loop's
// pooled HTTP client. A throttle (429) or 503 is retried with jittered backoff while nothing
// has reached the caller yet.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include "aws/sigv4.h"
#include "gateway/metrics.h"
#include "gateway/upstream.h"
#include "http/client.h"

namespace signgate::gateway {

class BedrockUpstream final : public Upstream {
 public:
  // Lives on `executor`'s loop, like its client.
  BedrockUpstream(boost::asio::any_io_executor executor, const http::ClientOptions& options, Metrics& metrics);

  using Upstream::send;
  boost::asio::awaitable<UpstreamResult> send(const Runtime& rt, const UpstreamCall& call,
                                              const aws::Credentials& credentials, const Destination& to) override;

 private:
  http::Client client_;
  aws::Signer signer_;
  Metrics& metrics_;
};

// Bedrock's count headers ("123") as a number; nullopt when absent or not a number.
std::optional<std::uint64_t> to_count(std::string_view text);

}  // namespace signgate::gateway
