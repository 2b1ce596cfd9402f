// The default credential chain, in the AWS SDKs' order: environment, shared profile files,
// web identity, ECS container credentials, EC2 IMDSv2. The first provider that yields
// credentials is kept for later refreshes; when none does, the error tells each one's story.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aws/credentials/profile_file.h"
#include "aws/credentials/provider.h"

namespace signgate::aws {

class ChainProvider final : public Provider {
 public:
  explicit ChainProvider(const ProviderServices& services) : services_(services) {}
  // The provider in use once one has answered, else "the default credential chain".
  std::string describe() const override;
  boost::asio::awaitable<Result<Fetched>> fetch() override;

 private:
  const ProviderServices& services_;
  std::shared_ptr<Provider> chosen_;
};

// The provider a named profile describes: static keys, role_arn with source_profile or
// credential_source (assumed through STS), or web_identity_token_file. Fails on a profile
// that is missing, loops, or asks for something signgate does not do (SSO, credential_process).
Result<std::shared_ptr<Provider>> provider_for_profile(const ProfileFiles& files, const std::string& name,
                                                       const ProviderServices& services);

// The shared files as the environment names them (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE,
// else ~/.aws/config and ~/.aws/credentials). Missing files read as empty.
ProfileFiles load_profile_files(const Environment& env, std::string* where = nullptr);

}  // namespace signgate::aws
