// What a caller of a translated surface may read of Bedrock's error text: nothing that names
// the account, role or session signgate signs as.
#include "aws/scrub_identity.h"

#include <gtest/gtest.h>

#include <string>

namespace signgate::aws {
namespace {

// Bedrock's AccessDeniedException, word for word but for the names.
TEST(ScrubIdentity, AccessDeniedKeepsItsSentenceAndLosesTheIdentity) {
  const std::string text =
      "User: arn:aws:sts::123456789012:assumed-role/flashback-bedrock/signgate-claude is not authorized to perform: "
      "bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-"
      "20240307-v1:0 because no identity-based policy allows the bedrock:InvokeModel action";
  EXPECT_EQ(scrub_identity(text),
            "User: <sts assumed-role ARN> is not authorized to perform: bedrock:InvokeModel on resource: "
            "<bedrock foundation-model ARN> because no identity-based policy allows the bedrock:InvokeModel action");
}

// Every ARN shape an error may quote, in every partition, goes: none of its fields is left.
TEST(ScrubIdentity, EveryArnBecomesAPlaceholder) {
  const struct {
    const char* arn;
    const char* placeholder;
  } cases[] = {
      {"arn:aws:sts::123456789012:assumed-role/role-name/session.name@x", "<sts assumed-role ARN>"},
      {"arn:aws:iam::123456789012:role/service-role/bedrock+ops=1,2", "<iam role ARN>"},
      {"arn:aws:iam::123456789012:user/ops", "<iam user ARN>"},
      {"arn:aws:iam::123456789012:root", "<iam ARN>"},
      {"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
       "<bedrock foundation-model ARN>"},
      {"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
       "<bedrock inference-profile ARN>"},
      {"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
       "<bedrock application-inference-profile ARN>"},
      {"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3d4e5f6", "<bedrock provisioned-model ARN>"},
      {"arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.titan-text-express-v1",
       "<bedrock foundation-model ARN>"},
      {"arn:aws-us-gov:sts::123456789012:assumed-role/gov-role/s", "<sts assumed-role ARN>"},
      {"arn:aws-cn:iam::123456789012:role/cn-role", "<iam role ARN>"},
      {"arn:aws-iso-b:sts::123456789012:assumed-role/r/s", "<sts assumed-role ARN>"},
      {"arn:aws:bedrock:us-east-1:123456789012:my-secret-thing/x", "<bedrock ARN>"},
      {"arn:aws:s3:::a-bucket-named-after-the-account/key", "<s3 ARN>"},
      {"arn:aws:Not_A_Service:x:y:z", "<ARN>"},
      {"arn:aws:sts::123456789012", "<ARN>"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(scrub_identity(c.arn), c.placeholder) << c.arn;
    EXPECT_EQ(scrub_identity(std::string("(") + c.arn + ")."), std::string("(") + c.placeholder + ").") << c.arn;
    EXPECT_EQ(scrub_identity(std::string("'") + c.arn + "', next"), std::string("'") + c.placeholder + "', next")
        << c.arn;
  }
}

// A sentence may end right after an ARN: the full stop is the sentence's, not the ARN's.
TEST(ScrubIdentity, PunctuationAfterAnArnStays) {
  EXPECT_EQ(scrub_identity("no access to arn:aws:iam::123456789012:role/r."), "no access to <iam role ARN>.");
  EXPECT_EQ(scrub_identity("arn:aws:iam::123456789012:role/r, then"), "<iam role ARN>, then");
  EXPECT_EQ(scrub_identity("ARN:AWS:iam::123456789012:role/r"), "<iam role ARN>");
}

// An account ID alone, and only a 12-digit one: other numbers stay.
TEST(ScrubIdentity, BareAccountIdsGoOtherNumbersStay) {
  EXPECT_EQ(scrub_identity("account 123456789012 is not subscribed"), "account <account> is not subscribed");
  EXPECT_EQ(scrub_identity("123456789012"), "<account>");
  EXPECT_EQ(scrub_identity("(account:123456789012)"), "(account:<account>)");
  EXPECT_EQ(scrub_identity("max_tokens 4096 exceeds 200000; took 1234567890123 ms"),
            "max_tokens 4096 exceeds 200000; took 1234567890123 ms");
  EXPECT_EQ(scrub_identity("id a123456789012 and 123456789012b"), "id a123456789012 and 123456789012b");
}

// Role and session names outside an ARN, IAM unique IDs and access key IDs.
TEST(ScrubIdentity, RoleNamesAndAwsIdsGo) {
  EXPECT_EQ(scrub_identity("caller assumed-role/flashback-bedrock/signgate-claude denied"),
            "caller assumed-role/<role>/<session> denied");
  EXPECT_EQ(scrub_identity("principal AROA3XFRBF535PLBIFPI4:signgate-claude"), "principal <AWS id>:<session>");
  EXPECT_EQ(scrub_identity("key AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPLE"), "key <AWS id> and <AWS id>");
  EXPECT_EQ(scrub_identity("AKIA is a prefix, AKIASHORT is short"), "AKIA is a prefix, AKIASHORT is short");
}

// The canonical request AWS quotes in InvalidSignatureException holds the session token.
TEST(ScrubIdentity, SessionTokensAreRedactedForCallerAndOperator) {
  const std::string text =
      "The Canonical String for this request should have been\n'POST\n/model/x/converse\n\nhost:bedrock\n"
      "x-amz-security-token:IQoJb3JpZ2luX2VjEJr//////////wEaCXVz+ZWFzdC0xIkcwRQ==\n\nhost;x-amz-security-token'";
  const std::string scrubbed = scrub_identity(text);
  EXPECT_EQ(scrubbed.find("IQoJ"), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find("x-amz-security-token:<redacted>\n"), std::string::npos) << scrubbed;
  const std::string logged = operator_text(text);
  EXPECT_EQ(logged.find("IQoJ"), std::string::npos) << logged;
  EXPECT_EQ(logged.find('\n'), std::string::npos) << "a log line stays one line";
  EXPECT_NE(logged.find("x-amz-security-token:<redacted> "), std::string::npos) << logged;
  EXPECT_EQ(scrub_identity("?X-Amz-Security-Token=FwoG%2Fabc&X-Amz-Date=1"),
            "?X-Amz-Security-Token=<redacted>&X-Amz-Date=1");
}

// The operator keeps the identity; the text is cut on a character boundary.
TEST(ScrubIdentity, OperatorTextKeepsIdentitiesAndIsBounded) {
  const std::string denied = "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized";
  EXPECT_EQ(operator_text(denied), denied);
  EXPECT_EQ(operator_text("ab\xC3\xA9z", 3), "ab\xE2\x80\xA6");
  EXPECT_EQ(operator_text("ab\xC3\xA9z", 4), "ab\xC3\xA9\xE2\x80\xA6");
  EXPECT_EQ(operator_text("abc", 3), "abc");
}

// Text without an identity is left alone, byte for byte.
TEST(ScrubIdentity, OrdinaryErrorsAreUnchanged) {
  for (const char* text : {
           "Too many requests, please wait before trying again.",
           "Could not resolve the foundation model from the provided model identifier.",
           "Malformed input request: #: extraneous key [foo] is not permitted, please reformat your input and try "
           "again.",
           "The model returned the following errors: messages.0.content: arn is not a field",
           "",
           "caf\xC3\xA9 \xF0\x9F\x98\x80",
       }) {
    EXPECT_EQ(scrub_identity(text), text);
  }
}

}  // namespace
}  // namespace signgate::aws
