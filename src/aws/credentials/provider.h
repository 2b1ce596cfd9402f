// One source of AWS credentials (environment, profile, web identity, ECS, IMDS, AssumeRole).
// Providers run on the credential thread's event loop (see cache.h), never on a request path.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

#include "aws/credentials.h"
#include "common/env.h"
#include "common/result.h"
#include "common/time.h"

namespace signgate::http {
class Client;
}

namespace signgate::aws {

struct Fetched {
  Credentials credentials;
  std::string assumed_role_arn;  // set by AssumeRole and web identity
};

class Provider {
 public:
  virtual ~Provider() = default;
  // What this is, for `doctor` and logs, e.g. "environment (AWS_ACCESS_KEY_ID)". Never a secret.
  virtual std::string describe() const = 0;
  // Fresh credentials, or one line on why there are none and what to do.
  virtual boost::asio::awaitable<Result<Fetched>> fetch() = 0;
};

// What providers need from the outside world; all of it replaceable in tests.
struct ProviderServices {
  http::Client* http = nullptr;  // on the credential thread's executor
  Environment env;
  Clock clock = system_now;
  std::string region;        // for regional STS
  std::string sts_endpoint;  // empty: https://sts.{region}.amazonaws.com
  std::string default_session_name = "signgate";

  std::string sts_url() const;
};

}  // namespace signgate::aws
