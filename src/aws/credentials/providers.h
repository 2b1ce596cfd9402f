// The concrete credential providers. Each fetch() either returns credentials or one
// line saying what failed and the likely fix.
#pragma once

#include <memory>
#include <string>

#include "aws/credentials/provider.h"
#include "aws/sts.h"

namespace signgate::aws {

// Keys that do not change: environment variables, a profile's aws_access_key_id, flags.
class StaticProvider final : public Provider {
 public:
  StaticProvider(Credentials credentials, std::string description)
      : credentials_(std::move(credentials)), description_(std::move(description)) {}
  std::string describe() const override { return description_; }
  boost::asio::awaitable<Result<Fetched>> fetch() override;

 private:
  Credentials credentials_;
  std::string description_;
};

// STS AssumeRole signed with the base provider's credentials. With an external ID this is
// the confused-deputy-safe delegated access the operator's trust policy asks for.
class AssumeRoleProvider final : public Provider {
 public:
  // `sts_region` and `sts_endpoint`, when set, replace the services' (a named identity's STS).
  AssumeRoleProvider(std::shared_ptr<Provider> base, AssumeRoleParams params, const ProviderServices& services,
                     std::string sts_region = {}, std::string sts_endpoint = {})
      : base_(std::move(base)),
        params_(std::move(params)),
        services_(services),
        sts_region_(std::move(sts_region)),
        sts_endpoint_(std::move(sts_endpoint)) {}
  std::string describe() const override;
  boost::asio::awaitable<Result<Fetched>> fetch() override;
  const std::shared_ptr<Provider>& base() const { return base_; }
  const AssumeRoleParams& params() const { return params_; }

 private:
  std::shared_ptr<Provider> base_;
  AssumeRoleParams params_;
  const ProviderServices& services_;
  std::string sts_region_;
  std::string sts_endpoint_;
};

// EKS IRSA: AssumeRoleWithWebIdentity (unsigned) with the projected token file, read
// again on every fetch because the kubelet rotates it.
class WebIdentityProvider final : public Provider {
 public:
  WebIdentityProvider(std::string role_arn, std::string token_file, std::string session_name,
                      const ProviderServices& services)
      : role_arn_(std::move(role_arn)),
        token_file_(std::move(token_file)),
        session_name_(std::move(session_name)),
        services_(services) {}
  std::string describe() const override;
  boost::asio::awaitable<Result<Fetched>> fetch() override;

 private:
  std::string role_arn_;
  std::string token_file_;
  std::string session_name_;
  const ProviderServices& services_;
};

// ECS task role (and EKS Pod Identity): GET the container credentials endpoint.
class EcsProvider final : public Provider {
 public:
  // `url` from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2) or FULL_URI.
  EcsProvider(std::string url, std::string token, std::string token_file, const ProviderServices& services)
      : url_(std::move(url)), token_(std::move(token)), token_file_(std::move(token_file)), services_(services) {}
  std::string describe() const override { return "ECS container credentials (" + url_ + ")"; }
  boost::asio::awaitable<Result<Fetched>> fetch() override;

 private:
  std::string url_;
  std::string token_;
  std::string token_file_;
  const ProviderServices& services_;
};

// EC2 instance role through IMDSv2: PUT a session token, then GET the role's credentials.
class ImdsProvider final : public Provider {
 public:
  ImdsProvider(std::string endpoint, const ProviderServices& services)
      : endpoint_(std::move(endpoint)), services_(services) {}
  std::string describe() const override { return "EC2 instance metadata (IMDSv2, " + endpoint_ + ")"; }
  boost::asio::awaitable<Result<Fetched>> fetch() override;
  // True when the last failure was "nothing answered" (not on EC2), as opposed to an
  // instance that answered without a role.
  bool unreachable() const { return unreachable_; }

 private:
  std::string endpoint_;
  const ProviderServices& services_;
  bool unreachable_ = false;
};

// The JSON answer of ECS and IMDS: AccessKeyId, SecretAccessKey, Token, Expiration.
Result<Credentials> parse_container_credentials(std::string_view json);

}  // namespace signgate::aws
