#include "gateway/attribution.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace signgate::gateway {
namespace {

using nlohmann::json;

auth::Client client() {
  auth::Client c;
  c.name = "flashback";
  c.request_metadata = {{"team", "search"}};
  return c;
}

std::size_t count_metadata_headers(const UpstreamCall& call) {
  std::size_t n = 0;
  for (const auto& h : call.headers) n += iequals(h.name, "x-amzn-bedrock-request-metadata") ? 1 : 0;
  return n;
}

// InvokeModel (and its stream) carries the stamp in Bedrock's header, which is then signed with the rest.
TEST(Attribution, InvokeGetsTheHeader) {
  for (const auto op : {aws::Operation::kInvoke, aws::Operation::kInvokeStream}) {
    UpstreamCall call;
    call.operation = op;
    call.headers = {{"Content-Type", "application/json"}};
    call.body = R"({"prompt":"x"})";
    stamp_attribution(call, client(), "rid");
    ASSERT_EQ(call.headers.size(), 2u);
    EXPECT_EQ(call.headers[1].name, "X-Amzn-Bedrock-Request-Metadata");
    EXPECT_EQ(json::parse(call.headers[1].value),
              json({{"signgate_client", "flashback"}, {"signgate_request_id", "rid"}, {"team", "search"}}));
    EXPECT_EQ(call.body, R"({"prompt":"x"})");  // the body is the model's: untouched
  }
}

// The caller's own header (forwarded by the native surface) is merged, not sent beside ours.
TEST(Attribution, CallerHeaderIsMergedOnce) {
  UpstreamCall call;
  call.operation = aws::Operation::kInvoke;
  call.headers = {{"x-amzn-bedrock-request-metadata", R"({"env":"prod","signgate_client":"other"})"},
                  {"Accept", "application/json"},
                  {"X-Amzn-Bedrock-Request-Metadata", R"({"second":"x"})"}};
  stamp_attribution(call, client(), "rid");
  EXPECT_EQ(count_metadata_headers(call), 1u);
  const json j = json::parse(call.headers[0].value);
  EXPECT_EQ(j.at("signgate_client"), "flashback");
  EXPECT_EQ(j.at("env"), "prod");
  EXPECT_FALSE(j.contains("second"));
  EXPECT_EQ(call.headers[1].name, "Accept");
}

// Converse and ConverseStream carry it in the body.
TEST(Attribution, ConverseGetsRequestMetadata) {
  for (const auto op : {aws::Operation::kConverse, aws::Operation::kConverseStream}) {
    UpstreamCall call;
    call.operation = op;
    call.body = R"({"messages":[]})";
    stamp_attribution(call, client(), "rid");
    EXPECT_EQ(count_metadata_headers(call), 0u);
    EXPECT_EQ(json::parse(call.body).at("requestMetadata").at("signgate_request_id"), "rid");
  }
}

// A Converse body the stamp cannot be written into is not sent: a UTF-16 body (which some JSON
// parsers read) would carry the caller's own signgate_client to the invocation logs.
TEST(Attribution, AnUnreadableConverseBodyIsRefused) {
  const std::string json8 = R"({"requestMetadata":{"signgate_client":"victim"},"messages":[]})";
  std::string utf16 = "\xff\xfe";
  for (const char c : json8) {
    utf16.push_back(c);
    utf16.push_back('\0');
  }
  for (const std::string& body : {utf16, std::string("[1]"), std::string("not json")}) {
    UpstreamCall call;
    call.operation = aws::Operation::kConverse;
    call.body = body;
    EXPECT_FALSE(stamp_attribution(call, client(), "rid"));
  }
  UpstreamCall ok;
  ok.operation = aws::Operation::kConverse;
  ok.body = json8;
  EXPECT_TRUE(stamp_attribution(ok, client(), "rid"));
}

// Operations and endpoints Bedrock keeps no metadata for are sent as they were.
TEST(Attribution, OthersAreUntouched) {
  const auto unchanged = [](UpstreamCall call) {
    const std::string body = call.body;
    const std::size_t headers = call.headers.size();
    stamp_attribution(call, client(), "rid");
    EXPECT_EQ(call.body, body);
    EXPECT_EQ(call.headers.size(), headers);
  };
  UpstreamCall call;
  call.body = R"({"messages":[]})";
  for (const auto op : {aws::Operation::kCountTokens, aws::Operation::kApplyGuardrail, aws::Operation::kAsyncInvoke,
                        aws::Operation::kDiscovery}) {
    call.operation = op;
    unchanged(call);
  }
  call.operation = aws::Operation::kConverse;
  call.openai_api = true;  // Bedrock's OpenAI-compatible API on bedrock-runtime
  unchanged(call);
  call.mantle = true;
  unchanged(call);
  call.openai_api = call.mantle = false;
  call.control_plane = true;
  unchanged(call);
}

}  // namespace
}  // namespace signgate::gateway
