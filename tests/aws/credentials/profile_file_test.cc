// ~/.aws/config and ~/.aws/credentials as the AWS CLI reads them.
#include "aws/credentials/profile_file.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

TEST(ProfileFile, ParsesSectionsKeysAndComments) {
  const auto ini = parse_ini(
      "# comment\n[default]\naws_access_key_id = AKID  \n; other comment\nRegion=us-east-1 # trailing\n"
      "s3 =\n  max_concurrent_requests = 20\n[profile app]\nrole_arn=arn:aws:iam::1:role/r\nbroken line\n");
  ASSERT_EQ(ini.size(), 2u);
  EXPECT_EQ(ini.at("default").at("aws_access_key_id"), "AKID");
  EXPECT_EQ(ini.at("default").at("region"), "us-east-1");
  EXPECT_EQ(ini.at("default").count("max_concurrent_requests"), 0u) << "nested settings are skipped";
  EXPECT_EQ(ini.at("profile app").at("role_arn"), "arn:aws:iam::1:role/r");
}

TEST(ProfileFile, WindowsLineEndingsAndEmptyFiles) {
  EXPECT_EQ(parse_ini("[default]\r\nregion = eu-west-1\r\n").at("default").at("region"), "eu-west-1");
  EXPECT_TRUE(parse_ini("").empty());
  EXPECT_TRUE(parse_ini("key = value before any section\n").empty());
}

// Config uses "[profile NAME]", credentials "[NAME]"; credentials-file keys win.
TEST(ProfileFile, MergesConfigAndCredentialsFiles) {
  const ProfileFiles files(
      "[default]\nregion = us-east-1\n[profile app]\nrole_arn = r\naws_access_key_id = FROMCONFIG\n",
      "[app]\naws_access_key_id = FROMCREDS\naws_secret_access_key = s\n[default]\n");
  const auto app = files.profile("app");
  ASSERT_TRUE(app);
  EXPECT_EQ(app->at("role_arn"), "r");
  EXPECT_EQ(app->at("aws_access_key_id"), "FROMCREDS");
  EXPECT_EQ(files.profile("default")->at("region"), "us-east-1");
  EXPECT_FALSE(files.profile("missing"));
}

TEST(ProfileFile, ConfigSectionWithoutProfilePrefixIsNotAProfile) {
  const ProfileFiles files("[app]\nrole_arn = r\n", "");
  EXPECT_FALSE(files.profile("app"));
}

}  // namespace
}  // namespace signgate::aws
