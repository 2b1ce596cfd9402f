#include "cli/sign_command.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace signgate::cli {
namespace {

SignArgs bedrock_args() {
  SignArgs a;
  a.url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
  a.region = "us-east-1";
  a.service = "bedrock";
  a.access_key = "AKIDEXAMPLE";
  a.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  a.time = "2015-08-30T12:36:00Z";
  a.headers = {"Content-Type: application/json"};
  a.data = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})";
  return a;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The printed request: request line as given, -H headers, Host, Content-Length,
// X-Amz-Date, token, Authorization — in that order.
TEST(SignCommand, PrintsTheSignedRequestInSpecOrder) {
  SignArgs a = bedrock_args();
  a.session_token = "FQoGZXIvYXdzEXAMPLE";
  std::ostringstream out, err;
  ASSERT_EQ(run_sign(a, out, err), kExitOk) << err.str();
  const auto l = lines(out.str());
  ASSERT_EQ(l.size(), 7u) << out.str();
  EXPECT_EQ(l[0], "POST /model/anthropic.claude-3-haiku-20240307-v1%3A0/converse HTTP/1.1");
  EXPECT_EQ(l[1], "Content-Type: application/json");
  EXPECT_EQ(l[2], "Host: bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(l[3], "Content-Length: " + std::to_string(a.data->size()));
  EXPECT_EQ(l[4], "X-Amz-Date: 20150830T123600Z");
  EXPECT_EQ(l[5], "X-Amz-Security-Token: FQoGZXIvYXdzEXAMPLE");
  EXPECT_EQ(
      l[6].rfind("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
                 "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=",
                 0),
      0u)
      << l[6];
}

// Repeated -H of one name are both sent, and joined with ',' in the canonical form.
TEST(SignCommand, RepeatedHeadersAreSentAndJoined) {
  SignArgs a = bedrock_args();
  a.headers = {"X-Custom: one", "x-custom:   two  ", "User-Agent: test/1"};
  auto p = prepare_signed_request(a, nullptr);
  ASSERT_TRUE(p);
  int sent = 0;
  for (const auto& h : p->request.headers) sent += (h.name == "X-Custom" || h.name == "x-custom");
  EXPECT_EQ(sent, 2);
  EXPECT_NE(p->signature.canonical_request.find("\nx-custom:one,two\n"), std::string::npos);
  // User-Agent is sent but never signed.
  EXPECT_EQ(p->signature.canonical_request.find("user-agent"), std::string::npos);
}

// A Host given with -H wins over the URL's; forged signature headers are dropped.
TEST(SignCommand, HostOverrideAndForgedHeadersDropped) {
  SignArgs a = bedrock_args();
  a.headers = {"Host: bedrock-runtime.us-west-2.amazonaws.com", "Authorization: Bearer sgk_leak",
               "X-Amz-Date: 19990101T000000Z"};
  auto p = prepare_signed_request(a, nullptr);
  ASSERT_TRUE(p);
  int hosts = 0;
  for (const auto& h : p->request.headers) {
    hosts += h.name == "Host";
    EXPECT_EQ(h.value.find("sgk_leak"), std::string::npos);
    EXPECT_NE(h.value, "19990101T000000Z");
  }
  EXPECT_EQ(hosts, 1);
  EXPECT_NE(p->signature.canonical_request.find("host:bedrock-runtime.us-west-2.amazonaws.com"), std::string::npos);
}

// GET by default, POST with a body, -X wins.
TEST(SignCommand, MethodDefaults) {
  SignArgs a = bedrock_args();
  a.data.reset();
  EXPECT_EQ(prepare_signed_request(a, nullptr)->request.method, "GET");
  a.data = "x";
  EXPECT_EQ(prepare_signed_request(a, nullptr)->request.method, "POST");
  a.method = "PUT";
  EXPECT_EQ(prepare_signed_request(a, nullptr)->request.method, "PUT");
}

// The body can come from a file, byte for byte.
TEST(SignCommand, DataFileIsTheBody) {
  const std::string path = testing::TempDir() + "/signgate_body.bin";
  const std::string body("{\"a\":\"\0\xff\"}", 10);
  std::ofstream(path, std::ios::binary) << body;
  SignArgs a = bedrock_args();
  a.data.reset();
  a.data_file = path;
  auto p = prepare_signed_request(a, nullptr);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->body, body);
  EXPECT_EQ(p->signature.canonical_request.substr(p->signature.canonical_request.size() - 64), sha256_hex(body));
  std::remove(path.c_str());
}

// Every bad input is a one-line error and exit code 2.
TEST(SignCommand, BadInputExitsWithTwo) {
  std::vector<std::pair<std::string, std::function<void(SignArgs&)>>> cases = {
      {"bad URL", [](SignArgs& a) { a.url = "bedrock-runtime.amazonaws.com/model"; }},
      {"bad --time", [](SignArgs& a) { a.time = "2015-08-30 12:36"; }},
      {"bad header", [](SignArgs& a) { a.headers = {"NoColonHere"}; }},
      {"bad header", [](SignArgs& a) { a.headers = {"Bad Name: x"}; }},
      {"line break", [](SignArgs& a) { a.headers = {"X-A: b\r\nX-Injected: 1"}; }},
      {"--access-key and --secret-key go together", [](SignArgs& a) { a.access_key.clear(); }},
      {"--session-token needs --access-key",
       [](SignArgs& a) {
         a.access_key.clear();
         a.secret_key.clear();
         a.session_token = "t";
       }},
      {"cannot be used together", [](SignArgs& a) { a.data_file = "/etc/hostname"; }},
      {"cannot read --data-file",
       [](SignArgs& a) {
         a.data.reset();
         a.data_file = "/nonexistent/body.json";
       }},
      {"bad method", [](SignArgs& a) { a.method = "post me"; }},
      {"plain http",
       [](SignArgs& a) {
         a.url = "http://bedrock-runtime.us-east-1.amazonaws.com/";
         a.send = true;
       }},
  };
  for (auto& [want, mutate] : cases) {
    SignArgs a = bedrock_args();
    mutate(a);
    std::ostringstream out, err;
    EXPECT_EQ(run_sign(a, out, err), kExitUsage) << want;
    const std::string message = err.str();
    EXPECT_NE(message.find(want), std::string::npos) << message;
    EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 1) << message;
    EXPECT_EQ(message.find("wJalrXUtnFEMI"), std::string::npos);
    EXPECT_TRUE(out.str().empty());
  }
}

// --verbose shows the stages but never the session token.
TEST(SignCommand, VerboseRedactsTheToken) {
  SignArgs a = bedrock_args();
  a.session_token = "SECRET-SESSION-TOKEN";
  a.verbose = true;
  std::ostringstream out, err;
  ASSERT_EQ(run_sign(a, out, err), kExitOk);
  EXPECT_NE(err.str().find("# canonical request"), std::string::npos);
  EXPECT_NE(err.str().find("x-amz-security-token:<redacted>"), std::string::npos);
  EXPECT_EQ(err.str().find("SECRET-SESSION-TOKEN"), std::string::npos);
}

}  // namespace
}  // namespace signgate::cli
