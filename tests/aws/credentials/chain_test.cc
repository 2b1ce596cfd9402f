// What a named profile resolves to, and why a broken one is refused (no I/O happens here).
#include "aws/credentials/chain.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

ProviderServices services() {
  ProviderServices s;
  s.env = fixed_environment({});
  s.region = "us-east-1";
  return s;
}

TEST(ProfileChain, StaticKeys) {
  const auto s = services();
  const ProfileFiles files("", "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n");
  auto p = provider_for_profile(files, "default", s);
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ((*p)->describe(), "profile 'default' (aws_access_key_id)");
}

TEST(ProfileChain, RoleFromSourceProfileNamesBoth) {
  const auto s = services();
  const ProfileFiles files("[profile app]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\nexternal_id = x\n",
                           "[base]\naws_access_key_id = AKID\naws_secret_access_key = s\n");
  auto p = provider_for_profile(files, "app", s);
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ((*p)->describe(),
            "AssumeRole arn:aws:iam::1:role/r as session 'signgate' with an External ID, "
            "from profile 'base' (aws_access_key_id)");
}

// The AWS CLI lets a profile be its own source of keys for its role.
TEST(ProfileChain, AProfileMayBeItsOwnSource) {
  const auto s = services();
  const ProfileFiles files("",
                           "[me]\naws_access_key_id = A\naws_secret_access_key = s\n"
                           "role_arn = arn:aws:iam::1:role/r\nsource_profile = me\n");
  auto p = provider_for_profile(files, "me", s);
  ASSERT_TRUE(p) << p.message();
  EXPECT_NE((*p)->describe().find("from profile 'me'"), std::string::npos);
}

TEST(ProfileChain, BrokenProfilesSayWhy) {
  const auto s = services();
  const ProfileFiles files(
      "[profile loop-a]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = loop-b\n"
      "[profile loop-b]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = loop-a\n"
      "[profile nosource]\nrole_arn = arn:aws:iam::1:role/r\n"
      "[profile sso]\nsso_session = corp\n"
      "[profile process]\ncredential_process = /bin/get-creds\n"
      "[profile half]\naws_access_key_id = A\n"
      "[profile badsource]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Somewhere\n"
      "[profile baddur]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\nduration_seconds = 60\n",
      "");
  const auto why = [&](const char* name) {
    auto p = provider_for_profile(files, name, s);
    return p ? std::string("resolved") : p.message();
  };
  EXPECT_NE(why("loop-a").find("loops back"), std::string::npos) << why("loop-a");
  EXPECT_NE(why("nosource").find("neither source_profile, credential_source nor web_identity_token_file"),
            std::string::npos);
  EXPECT_NE(why("sso").find("IAM Identity Center (SSO)"), std::string::npos);
  EXPECT_NE(why("process").find("credential_process"), std::string::npos);
  EXPECT_NE(why("half").find("only one of aws_access_key_id and aws_secret_access_key"), std::string::npos);
  EXPECT_NE(why("badsource").find("credential_source must be"), std::string::npos);
  EXPECT_NE(why("baddur").find("duration_seconds must be"), std::string::npos) << why("baddur");
  EXPECT_NE(why("absent").find("does not exist"), std::string::npos);
}

TEST(ProfileChain, WebIdentityInAProfile) {
  const auto s = services();
  const ProfileFiles files("[profile eks]\nrole_arn = arn:aws:iam::1:role/pod\nweb_identity_token_file = /var/t\n", "");
  auto p = provider_for_profile(files, "eks", s);
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ((*p)->describe(), "web identity (AWS_ROLE_ARN arn:aws:iam::1:role/pod, token file /var/t)");
}

}  // namespace
}  // namespace signgate::aws
