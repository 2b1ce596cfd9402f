#include "aws/sigv4.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

const Credentials kCreds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");

SystemTime suite_time() { return *parse_iso8601("2015-08-30T12:36:00Z"); }

// AWS's documented derivation example (IAM, 2012-02-15).
TEST(SigV4, DerivesTheDocumentedSigningKey) {
  Digest k = signing_key_bytes("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
  EXPECT_EQ(hex_lower(k), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

// Leading/trailing white space goes, inner runs (line folds included) become one space.
TEST(SigV4, TrimAllFoldsWhitespace) {
  EXPECT_EQ(trim_all("  value1  "), "value1");
  EXPECT_EQ(trim_all("\"a   b   c\""), "\"a b c\"");
  EXPECT_EQ(trim_all("value1\n  value2\n     value3"), "value1 value2 value3");
  EXPECT_EQ(trim_all("a\t\tb"), "a b");
  EXPECT_EQ(trim_all("   "), "");
}

// Names lower-cased and sorted; repeated names joined in the order given; unsigned
// headers (User-Agent, Expect, X-Amzn-Trace-Id, Authorization) left out.
TEST(SigV4, CanonicalHeadersJoinRepeatsAndSkipUnsigned) {
  const HeaderList headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "value2"},
                              {"User-Agent", "curl/8"},          {"my-header1", " value1 "},
                              {"X-Amzn-Trace-Id", "Root=1"},     {"Expect", "100-continue"},
                              {"Authorization", "Bearer sgk_x"}, {"A-First", "x"}};
  const CanonicalHeaders ch = canonical_headers(headers);
  EXPECT_EQ(ch.text, "a-first:x\nhost:example.amazonaws.com\nmy-header1:value2,value1\n");
  EXPECT_EQ(ch.signed_headers, "a-first;host;my-header1");
}

// Each stage on its own, for a Bedrock Converse request.
TEST(SigV4, StagesComposeForBedrock) {
  HttpRequest req{"POST",
                  "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                  "",
                  {{"Host", "bedrock-runtime.us-east-1.amazonaws.com"},
                   {"Content-Type", "application/json"},
                   {"X-Amz-Date", "20150830T123600Z"}}};
  std::string signed_headers;
  const std::string cr =
      canonical_request(req, sha256_hex("{}"), SigningOptions::for_service("us-east-1", "bedrock"), &signed_headers);
  EXPECT_EQ(cr,
            "POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\n"
            "content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n" +
                sha256_hex("{}"));
  EXPECT_EQ(signed_headers, "content-type;host;x-amz-date");
  const std::string scope = credential_scope("20150830", "us-east-1", "bedrock");
  EXPECT_EQ(scope, "20150830/us-east-1/bedrock/aws4_request");
  EXPECT_EQ(string_to_sign("20150830T123600Z", scope, cr),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n" + scope + "\n" + sha256_hex(cr));
  EXPECT_EQ(authorization_value("AKID", scope, "host", "abc"),
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=host, Signature=abc");
}

// Signing twice (a retry) replaces the earlier Authorization, date and token.
TEST(SigV4, ResigningReplacesEarlierSignature) {
  Signer signer([] { return suite_time(); });
  HttpRequest req{"GET", "/", "", {{"Host", "example.amazonaws.com"}}};
  const Credentials temp("AKIDEXAMPLE", "secret", "token-1");
  const auto first = signer.sign(req, kEmptyPayloadSha256, temp, SigningOptions::for_service("us-east-1", "service"));
  const auto second = signer.sign(req, kEmptyPayloadSha256, temp, SigningOptions::for_service("us-east-1", "service"));
  EXPECT_EQ(first.signature, second.signature);
  int auth = 0, date = 0, token = 0;
  for (const auto& h : req.headers) {
    auth += h.name == "Authorization";
    date += h.name == "X-Amz-Date";
    token += h.name == "X-Amz-Security-Token";
  }
  EXPECT_EQ(auth, 1);
  EXPECT_EQ(date, 1);
  EXPECT_EQ(token, 1);
  EXPECT_EQ(second.signed_headers, "host;x-amz-date;x-amz-security-token");
}

// The cache derives once per day/region/service and credentials, and tells apart two
// secrets under one access key id.
TEST(SigV4, SigningKeyCacheDerivesOncePerScope) {
  SigningKeyCache cache(2);
  const HmacKey* a = &cache.get(kCreds, "20150830", "us-east-1", "bedrock");
  EXPECT_EQ(&cache.get(kCreds, "20150830", "us-east-1", "bedrock"), a);
  EXPECT_EQ(cache.derivations(), 1u);
  cache.get(kCreds, "20150831", "us-east-1", "bedrock");
  EXPECT_EQ(cache.derivations(), 2u);
  const Credentials rotated("AKIDEXAMPLE", "another-secret");
  const HmacKey& r = cache.get(rotated, "20150830", "us-east-1", "bedrock");
  EXPECT_EQ(cache.derivations(), 3u);
  EXPECT_EQ(cache.size(), 2u);  // capacity holds; the oldest was dropped
  EXPECT_EQ(hex_lower(r.sign("x")),
            hex_lower(derive_signing_key("another-secret", "20150830", "us-east-1", "bedrock").sign("x")));
}

// S3 keeps the wire path and sends the payload hash header.
TEST(SigV4, S3OptionsSignTheWirePath) {
  Signer signer([] { return suite_time(); });
  HttpRequest req{"GET", "/my-bucket//a%20b/./c", "", {{"Host", "s3.amazonaws.com"}}};
  const auto sig = signer.sign(req, kEmptyPayloadSha256, kCreds, SigningOptions::for_service("us-east-1", "s3"));
  EXPECT_NE(sig.canonical_request.find("\n/my-bucket//a%20b/./c\n"), std::string::npos);
  EXPECT_EQ(sig.signed_headers, "host;x-amz-content-sha256;x-amz-date");
}

// Credentials keep the secret out of copies' way: a copy is equal, the fingerprint
// is the secret's SHA-256.
TEST(SigV4, CredentialsFingerprintTheSecret) {
  Credentials copy = kCreds;
  EXPECT_EQ(copy.secret_fingerprint(), sha256(kCreds.secret_access_key()));
  copy = Credentials("AKID2", "s2", "t2");
  EXPECT_EQ(copy.access_key_id(), "AKID2");
  EXPECT_EQ(copy.secret_fingerprint(), sha256("s2"));
}

}  // namespace
}  // namespace signgate::aws
