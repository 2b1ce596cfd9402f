// STS's Query API as we speak it: the forms we send and the XML we read back.
#include "aws/sts.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

// Every parameter STS documents for AssumeRole, form-encoded the SigV4 way (space → %20).
TEST(Sts, AssumeRoleFormCarriesEveryParameter) {
  AssumeRoleParams p;
  p.role_arn = "arn:aws:iam::111122223333:role/flashback-bedrock";
  p.session_name = "signgate-flashback";
  p.external_id = "ext id/1";
  p.duration_seconds = 900;
  p.source_identity = "ops@example.com";
  p.policy = R"({"Version":"2012-10-17"})";
  p.tags = {{"team", "ml"}, {"env", "prod"}};
  EXPECT_EQ(assume_role_form(p),
            "Action=AssumeRole&DurationSeconds=900&ExternalId=ext%20id%2F1"
            "&Policy=%7B%22Version%22%3A%222012-10-17%22%7D"
            "&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fflashback-bedrock"
            "&RoleSessionName=signgate-flashback&SourceIdentity=ops%40example.com"
            "&Tags.member.1.Key=team&Tags.member.1.Value=ml&Tags.member.2.Key=env&Tags.member.2.Value=prod"
            "&Version=2011-06-15");
}

TEST(Sts, OptionalParametersAreLeftOutWhenEmpty) {
  AssumeRoleParams p;
  p.role_arn = std::string("arn:aws:iam::1:role/r");
  p.session_name = std::string("signgate");
  EXPECT_EQ(assume_role_form(p),
            "Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=signgate"
            "&Version=2011-06-15");
}

TEST(Sts, WebIdentityFormCarriesTheToken) {
  EXPECT_EQ(assume_role_with_web_identity_form("arn:aws:iam::1:role/pod", "sess", "eyJ.a-b_c", 3600),
            "Action=AssumeRoleWithWebIdentity&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fpod"
            "&RoleSessionName=sess&Version=2011-06-15&WebIdentityToken=eyJ.a-b_c");
}

constexpr const char* kAnswer = R"(<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>ops</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111122223333:assumed-role/flashback-bedrock/signgate</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:signgate</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>AQoDYXdzEPT//////////wEXAMPLEtc764</SessionToken>
      <Expiration>2026-11-25T17:36:00Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>)";

// The expiry we refresh against is STS's own Expiration, not our guess.
TEST(Sts, ParsesCredentialsAndExpiration) {
  auto r = parse_assume_role_response(kAnswer);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->credentials.access_key_id(), "ASIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(r->credentials.secret_access_key(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  EXPECT_EQ(r->credentials.session_token(), "AQoDYXdzEPT//////////wEXAMPLEtc764");
  ASSERT_TRUE(r->credentials.expiration());
  EXPECT_EQ(format_iso8601(*r->credentials.expiration()), "2026-11-25T17:36:00Z");
  EXPECT_EQ(r->assumed_role_arn, "arn:aws:sts::111122223333:assumed-role/flashback-bedrock/signgate");
}

TEST(Sts, ParsesTheWebIdentityAnswerToo) {
  const char* xml = R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
    <AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEB</AccessKeyId>
    <SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>
    <Expiration>2026-11-25T17:36:00.123Z</Expiration></Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/pod/s</Arn></AssumedRoleUser>
    </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>)";
  auto r = parse_assume_role_response(xml);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->credentials.access_key_id(), "ASIAWEB");
  EXPECT_EQ(r->assumed_role_arn, "arn:aws:sts::1:assumed-role/pod/s");
}

TEST(Sts, ErrorResponseGivesCodeAndMessage) {
  const char* xml = R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
    <Error><Type>Sender</Type><Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::1:user/x is not authorized to perform: sts:AssumeRole</Message></Error>
    <RequestId>id</RequestId></ErrorResponse>)";
  const auto e = parse_error_response(xml);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "AccessDenied");
  EXPECT_EQ(e->message, "User: arn:aws:iam::1:user/x is not authorized to perform: sts:AssumeRole");
  const auto r = parse_assume_role_response(xml);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.message(),
            "STS error AccessDenied: User: arn:aws:iam::1:user/x is not authorized to perform: sts:AssumeRole");
  EXPECT_FALSE(parse_error_response(kAnswer));
}

// Built with append: GCC 12 raises a false -Wrestrict on std::string::replace here.
std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  std::string out;
  out.append(text.substr(0, at));
  out.append(to);
  out.append(text.substr(at + from.size()));
  return out;
}

TEST(Sts, BrokenAnswersAreErrorsNotCrashes) {
  EXPECT_NE(parse_assume_role_response("<AssumeRoleResponse><AssumeRoleResult>").message().find("does not parse"),
            std::string::npos);
  EXPECT_NE(parse_assume_role_response("").message().find("does not parse"), std::string::npos);
  EXPECT_NE(parse_assume_role_response("<Other/>").message().find("instead of an AssumeRole result"),
            std::string::npos);
  const std::string no_token = replaced(kAnswer, "<SessionToken>AQoDYXdzEPT//////////wEXAMPLEtc764</SessionToken>", "");
  EXPECT_NE(parse_assume_role_response(no_token).message().find("lacks"), std::string::npos);
  const std::string bad_time = replaced(kAnswer, "2026-11-25T17:36:00Z", "tomorrow");
  EXPECT_NE(parse_assume_role_response(bad_time).message().find("unreadable Expiration 'tomorrow'"), std::string::npos);
}

// Each STS failure an operator meets reads as its likely cause and fix.
TEST(Sts, ExplanationsNameTheLikelyFix) {
  const std::string role = "arn:aws:iam::1:role/r";
  EXPECT_NE(explain_sts_error({"AccessDenied", "not authorized"}, 403, role, true).find("External ID does not match"),
            std::string::npos);
  EXPECT_NE(explain_sts_error({"AccessDenied", "not authorized"}, 403, role, false).find("set aws.external_id"),
            std::string::npos);
  EXPECT_NE(explain_sts_error({"InvalidClientTokenId", "bad"}, 403, role, false).find("base credentials are not valid"),
            std::string::npos);
  EXPECT_NE(explain_sts_error({"ValidationError", "DurationSeconds exceeds"}, 400, role, false)
                .find("lower aws.duration_seconds"),
            std::string::npos);
  EXPECT_NE(explain_sts_error({"RegionDisabledException", "x"}, 403, role, false).find("activate STS"),
            std::string::npos);
}

TEST(Sts, SessionNamesAreMadeValid) {
  EXPECT_EQ(sanitize_session_name("signgate-flashback prod/1"), "signgate-flashback-prod-1");
  EXPECT_EQ(sanitize_session_name("a"), "a-");
  EXPECT_EQ(sanitize_session_name(std::string(80, 'x')).size(), 64u);
  EXPECT_EQ(sanitize_session_name("user@example.com,=+_."), "user@example.com,=+_.");
}

// Found by fuzzing: an Expiration past the clock's range (year 7517) overflowed the
// nanosecond time point. It is an unreadable Expiration, so the answer is refused.
TEST(Sts, AnExpirationPastTheClocksRangeIsRefused) {
  std::string xml = kAnswer;
  const auto at = xml.find("2026-11-25T17:36:00Z");
  xml.replace(at, 4, "7517");
  EXPECT_FALSE(parse_assume_role_response(xml));
}

}  // namespace
}  // namespace signgate::aws
