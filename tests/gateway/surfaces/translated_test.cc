// Bedrock's error answers as the OpenAI and Anthropic surfaces pass them on: the status and
// type kept, signgate's own AWS identity kept for the operator.
#include "gateway/surfaces/translated.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace signgate::gateway::surfaces {
namespace {

using nlohmann::json;

http::ResponseHead bedrock_head(unsigned status, std::string type) {
  http::ResponseHead head;
  head.status = status;
  head.headers.push_back({"Content-Type", "application/json"});
  head.headers.push_back({"x-amzn-ErrorType", std::move(type)});
  return head;
}

std::string body(const std::string& message) { return json{{"message", message}}.dump(); }

const std::string kDenied =
    "User: arn:aws:sts::123456789012:assumed-role/flashback-bedrock/signgate-claude is not authorized to perform: "
    "bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-"
    "v1:0 because no identity-based policy allows the bedrock:InvokeModel action";

// AccessDenied is about signgate's role: the caller reads a short message naming the request,
// in its dialect with the status and type kept; the audit line keeps Bedrock's words.
TEST(BedrockRefusal, AccessDeniedNamesTheRequestNotTheRole) {
  const Refusal r = bedrock_refusal(bedrock_head(403, "AccessDeniedException:http://internal"), body(kDenied), "rid7");
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.bedrock_type, "AccessDeniedException");
  EXPECT_EQ(r.code, "AccessDeniedException");
  EXPECT_EQ(r.message,
            "signgate's AWS identity is not allowed to call this model on Bedrock (request rid7); the operator's log "
            "has the details");
  EXPECT_EQ(r.detail, "AccessDeniedException: " + kDenied);
  for (Dialect d : {Dialect::kOpenAI, Dialect::kAnthropic}) {
    const Rendered out = render(d, r, "rid7");
    EXPECT_EQ(out.status, 403u);
    EXPECT_EQ(out.body.find("123456789012"), std::string::npos) << out.body;
    EXPECT_EQ(out.body.find("arn:"), std::string::npos) << out.body;
    EXPECT_EQ(out.body.find("flashback-bedrock"), std::string::npos) << out.body;
    EXPECT_EQ(out.body.find("signgate-claude"), std::string::npos) << out.body;
    EXPECT_NE(out.body.find("permission_error"), std::string::npos) << out.body;
  }
}

// Other refusals of signgate's credentials (an expired token, a bad signature that quotes the
// canonical request) are the operator's too; the session token stays out of the audit line.
TEST(BedrockRefusal, CredentialRefusalsAreShortAndTheTokenIsRedacted) {
  const std::string said =
      "The request signature we calculated does not match.\nThe Canonical String for this request should have "
      "been\n'POST\nx-amz-security-token:IQoJb3JpZ2luSECRET\n'";
  const Refusal r = bedrock_refusal(bedrock_head(403, "InvalidSignatureException"), body(said), "rid8");
  EXPECT_EQ(r.message,
            "Bedrock did not accept signgate's AWS credentials (request rid8); the operator's log has the details");
  EXPECT_EQ(r.bedrock_type, "InvalidSignatureException");
  EXPECT_EQ(r.detail.find("IQoJ"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("InvalidSignatureException: The request signature"), std::string::npos) << r.detail;
  const Refusal expired = bedrock_refusal(bedrock_head(403, "ExpiredTokenException"),
                                          body("The security token included in the request "
                                               "is expired"),
                                          "rid9");
  EXPECT_NE(expired.message.find("(request rid9)"), std::string::npos);
}

// Any other error keeps Bedrock's sentence, less the ARNs and account IDs it quotes.
TEST(BedrockRefusal, OtherErrorsKeepTheirWordsWithoutArns) {
  const Refusal invalid = bedrock_refusal(
      bedrock_head(400, "ValidationException"),
      body("The provided model identifier arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x is invalid."),
      "r1");
  EXPECT_EQ(invalid.message, "The provided model identifier <bedrock inference-profile ARN> is invalid.");
  EXPECT_EQ(invalid.detail,
            "ValidationException: The provided model identifier "
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x is invalid.");
  const Refusal missing = bedrock_refusal(
      bedrock_head(404, "ResourceNotFoundException"),
      body("Model arn:aws-cn:bedrock:cn-north-1:123456789012:provisioned-model/abc in account 123456789012 not found"),
      "r2");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.code, "model_not_found");
  EXPECT_EQ(missing.message, "Model <bedrock provisioned-model ARN> in account <account> not found");
}

// Words with no identity in them pass through unchanged, and the audit line names the type only.
TEST(BedrockRefusal, OrdinaryErrorsAreUnchanged) {
  const Refusal r = bedrock_refusal(bedrock_head(429, "ThrottlingException"),
                                    body("Too many requests, please wait before trying again."), "r3");
  EXPECT_EQ(r.message, "Too many requests, please wait before trying again.");
  EXPECT_EQ(r.detail, "ThrottlingException");
  EXPECT_EQ(r.retry_after, std::chrono::seconds(1));
  const Refusal timeout = bedrock_refusal(bedrock_head(408, "ModelTimeoutException"), "not json", "r4");
  EXPECT_EQ(timeout.status, 504u);
  EXPECT_EQ(timeout.message, "Bedrock answered 408");
}

}  // namespace
}  // namespace signgate::gateway::surfaces
