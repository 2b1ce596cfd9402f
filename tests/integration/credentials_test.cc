// The credential providers and the refresh loop against the local STS/IMDS/ECS fake, which
// checks every signature with botocore and the External ID the way STS does.
#include "aws/credentials/cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "integration/fakes.h"

namespace signgate::aws {
namespace {

using namespace std::chrono_literals;
using testing::FakeProcess;
using testing::kBaseKey;
using testing::kBaseSecret;
using testing::kExternalId;
using testing::kRole;
using testing::TempDir;

CredentialSettings settings_for(const std::string& sts) {
  CredentialSettings s;
  s.region = "us-east-1";
  s.sts_endpoint = sts;
  s.expiry_margin = 1s;
  s.retry_base = 100ms;
  s.retry_cap = 400ms;
  return s;
}

// A machine with only the base keys in its environment (and no IMDS to wait for).
Environment base_keys_env(const TempDir& home, std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> vars{{"HOME", home.path()},
                                          {"AWS_ACCESS_KEY_ID", kBaseKey},
                                          {"AWS_SECRET_ACCESS_KEY", kBaseSecret},
                                          {"AWS_EC2_METADATA_DISABLED", "true"}};
  for (auto& [k, v] : extra) vars[k] = v;
  return fixed_environment(vars);
}

Environment no_keys_env(const TempDir& home, std::map<std::string, std::string> extra) {
  extra["HOME"] = home.path();
  if (!extra.count("AWS_EC2_METADATA_SERVICE_ENDPOINT")) extra["AWS_EC2_METADATA_DISABLED"] = "true";
  return fixed_environment(extra);
}

RoleSettings role(std::string external_id = kExternalId, std::string arn = kRole) {
  RoleSettings r;
  r.role_arn = std::move(arn);
  r.external_id = std::move(external_id);
  r.session_name = "signgate-flashback";
  return r;
}

// The heart of delegated access: base keys → AssumeRole with External ID → signed Bedrock call.
TEST(Credentials, AssumesTheRoleWithTheExternalIdAndSignsWithIt) {
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId});
  TempDir home;
  CredentialManager manager(settings_for(fake.url()), base_keys_env(home));
  auto cache = manager.identity(role());
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  EXPECT_EQ((*creds)->access_key_id().rfind("ASIA", 0), 0u);
  EXPECT_FALSE((*creds)->session_token().empty());
  const CacheStatus status = cache->status();
  EXPECT_TRUE(status.ready);
  EXPECT_EQ(status.assumed_role_arn, "arn:aws:sts::111122223333:assumed-role/flashback-bedrock/signgate-flashback");
  EXPECT_NE(status.source.find("from environment (AWS_ACCESS_KEY_ID)"), std::string::npos) << status.source;

  const auto sent = testing::fake_stats(fake.url())["last_assume_role"];
  EXPECT_EQ(sent["ExternalId"], kExternalId);
  EXPECT_EQ(sent["RoleArn"], kRole);
  EXPECT_EQ(sent["RoleSessionName"], "signgate-flashback");
  EXPECT_EQ(sent["DurationSeconds"], "3600");
  EXPECT_EQ(sent["Version"], "2011-06-15");
  EXPECT_EQ(sent["_signed_by"], kBaseKey);

  const auto reply = testing::converse(fake.url(), **creds);
  EXPECT_EQ(reply.status, 200u) << reply.error << reply.body;
}

// Confused-deputy protection working as designed must read as a wrong External ID.
TEST(Credentials, AWrongExternalIdIsExplainedPlainly) {
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId});
  TempDir home;
  CredentialManager manager(settings_for(fake.url()), base_keys_env(home));
  auto creds = manager.identity(role("not-the-right-one"))->wait_first(10s);
  ASSERT_FALSE(creds);
  EXPECT_NE(creds.message().find("AccessDenied"), std::string::npos) << creds.message();
  EXPECT_NE(creds.message().find("External ID does not match"), std::string::npos) << creds.message();
  EXPECT_EQ(creds.message().find("not-the-right-one"), std::string::npos) << "the External ID is not echoed";
}

// No secret reaches an error message, whatever fails.
TEST(Credentials, ErrorsNeverCarryASecret) {
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId});
  TempDir home;
  CredentialManager manager(settings_for(fake.url()), base_keys_env(home));
  auto denied = manager.identity(role("wrong"))->wait_first(10s);
  auto missing = manager.identity(role("", "arn:aws:iam::111122223333:role/missing"))->wait_first(10s);
  for (const auto* r : {&denied, &missing}) {
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->message().find(kBaseSecret), std::string::npos);
  }
  EXPECT_NE(missing.message().find("the role's trust policy does not allow"), std::string::npos) << missing.message();
}

// Done-when of the issue: many rotations, concurrent signers, no failed request, and STS
// called once per rotation — never per request.
TEST(Credentials, ServesAcrossManyRotationsWithOneStsCallEach) {
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId, "--sts-lifetime", "4"});
  TempDir home;
  auto settings = settings_for(fake.url());
  settings.refresh_before = 3s;  // credentials live 4 s: a rotation every second, 2 s of slack
  CacheStatus status;
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::mutex failure_mutex;
  {
    CredentialManager manager(settings, base_keys_env(home));
    auto cache = manager.identity(role());
    ASSERT_TRUE(cache->wait_first(10s));
    const auto deadline = std::chrono::steady_clock::now() + 8s;
    std::vector<std::thread> signers;
    for (int t = 0; t < 4; ++t) {
      signers.emplace_back([&] {
        while (std::chrono::steady_clock::now() < deadline) {
          auto creds = cache->current();
          const auto reply = creds ? testing::converse(fake.url(), **creds) : testing::Reply{};
          if (creds && reply.status == 200) {
            ++ok;
            continue;
          }
          ++failed;
          std::lock_guard lock(failure_mutex);
          if (first_failure.empty()) first_failure = creds ? reply.body + reply.error : creds.message();
        }
      });
    }
    for (auto& s : signers) s.join();
    manager.stop();
    status = cache->status();
  }
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GT(ok.load(), 50);
  EXPECT_GE(status.refreshes, 6u) << "rotations in 8 s";
  EXPECT_EQ(status.failures, 0u);
  EXPECT_EQ(testing::fake_count(fake.url(), "assume_role"), static_cast<int>(status.refreshes));
  EXPECT_EQ(testing::fake_count(fake.url(), "expired"), 0);
  std::cout << "[ measured ] " << ok.load() << " signed requests across " << status.refreshes << " credential sets, "
            << testing::fake_count(fake.url(), "assume_role") << " AssumeRole calls\n";
}

// STS down during a refresh: the held credentials keep serving; past their expiry requests
// fail fast with a clear reason; when STS is back, credentials return without a restart.
TEST(Credentials, StsDownDuringRefreshServesThenFailsFastThenRecovers) {
  // Lifetime 6 s, less the 1 s margin and up to 1 s the fake's whole-second Expiration cuts
  // off: at least 2 s of slack after the 2 s wait below (4 s gave none under ASan on a busy CI).
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId, "--sts-lifetime", "6"});
  TempDir home;
  auto settings = settings_for(fake.url());
  settings.refresh_before = 5s;  // refresh 1 s after each fetch
  CredentialManager manager(settings, base_keys_env(home));
  auto cache = manager.identity(role());
  ASSERT_TRUE(cache->wait_first(10s));
  testing::fake_control(fake.url(), {{"sts_down", true}});

  // The first refresh is due about 1 s after the fetch; a loaded machine may start it later
  // (seen in CI), and the held credentials serve until about 4 s after the fetch.
  const auto refreshed_by = std::chrono::steady_clock::now() + 3s;
  while (cache->status().failures == 0 && std::chrono::steady_clock::now() < refreshed_by) {
    std::this_thread::sleep_for(50ms);
  }
  auto still = cache->current();
  ASSERT_TRUE(still) << still.message();
  EXPECT_EQ(testing::converse(fake.url(), **still).status, 200u);
  EXPECT_GE(cache->status().failures, 1u);
  EXPECT_NE(cache->status().last_error.find("ServiceUnavailable"), std::string::npos) << cache->status().last_error;

  const auto give_up = std::chrono::steady_clock::now() + 8s;
  Result<std::shared_ptr<const Credentials>> now = cache->current();
  while (now && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(50ms);
    now = cache->current();
  }
  ASSERT_FALSE(now);
  EXPECT_NE(now.message().find("expired at"), std::string::npos) << now.message();
  EXPECT_NE(now.message().find("ServiceUnavailable"), std::string::npos) << now.message();
  EXPECT_FALSE(cache->status().ready);

  testing::fake_control(fake.url(), {{"sts_down", false}});
  const auto recover_by = std::chrono::steady_clock::now() + 5s;
  while (!cache->status().ready && std::chrono::steady_clock::now() < recover_by) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(cache->status().ready);
  auto back = cache->current();
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(testing::converse(fake.url(), **back).status, 200u);
}

TEST(Credentials, BadXmlFromStsIsReported) {
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId});
  testing::fake_control(fake.url(), {{"sts_bad_xml", true}});
  TempDir home;
  CredentialManager manager(settings_for(fake.url()), base_keys_env(home));
  auto creds = manager.identity(role())->wait_first(10s);
  ASSERT_FALSE(creds);
  EXPECT_NE(creds.message().find("does not parse"), std::string::npos) << creds.message();
}

// EKS IRSA: the pod's token → AssumeRoleWithWebIdentity → then the configured role (chaining).
TEST(Credentials, WebIdentityThenAssumeRole) {
  const std::string pod_role = "arn:aws:iam::111122223333:role/eks-pod";
  auto fake = testing::start_aws_fake(
      {"--role", pod_role, "--role", std::string(kRole) + "=" + kExternalId, "--web-identity-token", "eyJpod.token"});
  TempDir home;
  const auto token_file = home.write("token", "eyJpod.token\n");
  CredentialManager manager(settings_for(fake.url()), no_keys_env(home, {{"AWS_ROLE_ARN", pod_role},
                                                                         {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file}}));
  auto cache = manager.identity(role());
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  EXPECT_EQ(testing::fake_count(fake.url(), "web_identity"), 1);
  const auto sent = testing::fake_stats(fake.url())["last_assume_role"];
  EXPECT_EQ(sent["_signed_by"].get<std::string>().rfind("ASIA", 0), 0u) << "signed with the web identity's keys";
  EXPECT_NE(cache->status().source.find("web identity"), std::string::npos) << cache->status().source;
  EXPECT_EQ(testing::converse(fake.url(), **creds).status, 200u);
}

TEST(Credentials, WebIdentityWithABadTokenSaysSo) {
  const std::string pod_role = "arn:aws:iam::111122223333:role/eks-pod";
  auto fake = testing::start_aws_fake({"--role", pod_role, "--web-identity-token", "good"});
  TempDir home;
  const auto token_file = home.write("token", "stale");
  CredentialManager manager(settings_for(fake.url()), no_keys_env(home, {{"AWS_ROLE_ARN", pod_role},
                                                                         {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file}}));
  auto creds = manager.identity(RoleSettings{})->wait_first(10s);
  ASSERT_FALSE(creds);
  EXPECT_NE(creds.message().find("InvalidIdentityToken"), std::string::npos) << creds.message();
}

// On EC2: IMDSv2 session token, role name, then the role's credentials.
TEST(Credentials, Ec2InstanceMetadataV2) {
  auto fake = testing::start_aws_fake({"--imds", "--sts-lifetime", "3600"});
  TempDir home;
  CredentialManager manager(settings_for(fake.url()),
                            no_keys_env(home, {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url()}}));
  auto cache = manager.identity(RoleSettings{});
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  EXPECT_NE(cache->status().source.find("IMDSv2"), std::string::npos);
  EXPECT_TRUE((*creds)->expiration().has_value());
  EXPECT_EQ(testing::fake_count(fake.url(), "issued_imds"), 1);
  EXPECT_EQ(testing::converse(fake.url(), **creds).status, 200u);
}

// ECS / EKS Pod Identity: the full URI with the authorization token read from a file.
TEST(Credentials, EcsContainerCredentialsWithTokenFile) {
  auto fake = testing::start_aws_fake({"--ecs-token", "Bearer pod-identity-token"});
  TempDir home;
  const auto token_file = home.write("ecs-token", "Bearer pod-identity-token\n");
  CredentialManager manager(settings_for(fake.url()),
                            no_keys_env(home, {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", fake.url() + "/ecs/credentials"},
                                               {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}}));
  auto cache = manager.identity(RoleSettings{});
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  EXPECT_NE(cache->status().source.find("ECS"), std::string::npos);
  EXPECT_EQ(testing::converse(fake.url(), **creds).status, 200u);
}

TEST(Credentials, EcsWithAWrongTokenIsRefused) {
  auto fake = testing::start_aws_fake({"--ecs-token", "Bearer right"});
  TempDir home;
  CredentialManager manager(settings_for(fake.url()),
                            no_keys_env(home, {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", fake.url() + "/ecs/credentials"},
                                               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong"}}));
  auto creds = manager.identity(RoleSettings{})->wait_first(10s);
  ASSERT_FALSE(creds);
  EXPECT_NE(creds.message().find("401 (the authorization token was refused)"), std::string::npos) << creds.message();
}

// A profile that assumes a role from another profile's keys, with an External ID.
TEST(Credentials, ProfileWithRoleArnSourceProfileAndExternalId) {
  auto fake = testing::start_aws_fake({"--role", std::string(kRole) + "=" + kExternalId});
  TempDir home;
  const auto config = home.write("aws/config", "[profile app]\nrole_arn = " + std::string(kRole) +
                                                   "\nsource_profile = base\nexternal_id = " + kExternalId +
                                                   "\nrole_session_name = from-profile\nduration_seconds = 900\n");
  const auto credentials = home.write("aws/credentials", "[base]\naws_access_key_id = " + std::string(kBaseKey) +
                                                             "\naws_secret_access_key = " + kBaseSecret + "\n");
  CredentialManager manager(
      settings_for(fake.url()),
      no_keys_env(home,
                  {{"AWS_PROFILE", "app"}, {"AWS_CONFIG_FILE", config}, {"AWS_SHARED_CREDENTIALS_FILE", credentials}}));
  auto cache = manager.identity(RoleSettings{});
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  const auto sent = testing::fake_stats(fake.url())["last_assume_role"];
  EXPECT_EQ(sent["ExternalId"], kExternalId);
  EXPECT_EQ(sent["RoleSessionName"], "from-profile");
  EXPECT_EQ(sent["DurationSeconds"], "900");
  EXPECT_NE(cache->status().source.find("profile 'base'"), std::string::npos) << cache->status().source;
  EXPECT_EQ(testing::converse(fake.url(), **creds).status, 200u);
}

// The SDKs' order: environment variables win over a default profile.
TEST(Credentials, EnvironmentComesBeforeTheDefaultProfile) {
  auto fake = testing::start_aws_fake();
  TempDir home;
  home.write(".aws/credentials", "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = other\n");
  CredentialManager manager(settings_for(fake.url()), base_keys_env(home));
  auto cache = manager.identity(RoleSettings{});
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  EXPECT_EQ((*creds)->access_key_id(), kBaseKey);
  EXPECT_NE(cache->status().source.find("environment"), std::string::npos);
  EXPECT_EQ(testing::converse(fake.url(), **creds).status, 200u);
}

TEST(Credentials, TheDefaultProfileWhenTheEnvironmentHasNoKeys) {
  auto fake = testing::start_aws_fake();
  TempDir home;
  home.write(".aws/credentials", "[default]\naws_access_key_id = " + std::string(kBaseKey) +
                                     "\naws_secret_access_key = " + kBaseSecret + "\n");
  CredentialManager manager(settings_for(fake.url()), no_keys_env(home, {}));
  auto cache = manager.identity(RoleSettings{});
  auto creds = cache->wait_first(10s);
  ASSERT_TRUE(creds) << creds.message();
  EXPECT_NE(cache->status().source.find("profile 'default'"), std::string::npos);
  EXPECT_EQ(cache->status().refreshes, 1u) << "keys without an expiry are fetched once";
}

}  // namespace
}  // namespace signgate::aws
