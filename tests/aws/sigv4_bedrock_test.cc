// Bedrock, STS and generic requests whose expected stages were computed by botocore
// (tests/tools/gen_bedrock_vectors.py), not by the code under test: model IDs with ':',
// ARNs with '/', unicode and reserved characters, repeated query keys, odd spacing.
#include "aws/sigv4.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "http/url.h"
#include "testdata.h"

namespace signgate::aws {
namespace {

nlohmann::json load_vectors() {
  return nlohmann::json::parse(testing_support::read_file(testing_support::kTestData / "bedrock-sigv4-vectors.json"));
}

std::vector<nlohmann::json> cases() {
  const nlohmann::json vectors = load_vectors();  // keep alive: the loop walks into it
  std::vector<nlohmann::json> out;
  for (const auto& c : vectors["cases"]) out.push_back(c);
  return out;
}

class BotocoreVectors : public testing::TestWithParam<nlohmann::json> {};

TEST_P(BotocoreVectors, EveryStageMatchesBotocore) {
  const auto& c = GetParam();
  std::string err;
  const auto url = http::parse_url(c["url"].get<std::string>(), &err);
  ASSERT_TRUE(url) << err;
  HttpRequest req{c["method"], url->path, url->query, {}};
  for (const auto& h : c["headers"]) req.headers.push_back({h[0], h[1]});
  req.headers.push_back({"Host", url->host_header()});
  const Credentials creds(c["access_key"], c["secret_key"], c["session_token"]);
  Signer signer([&] { return *parse_iso8601(c["time"].get<std::string>()); });
  const Signature sig = signer.sign(req, sha256_hex(c["body"].get<std::string>()), creds,
                                    SigningOptions::for_service(c["region"], c["service"]));
  const auto& want = c["expected"];
  EXPECT_EQ(sig.canonical_request, want["canonical_request"].get<std::string>());
  EXPECT_EQ(sig.string_to_sign, want["string_to_sign"].get<std::string>());
  EXPECT_EQ(sig.signature, want["signature"].get<std::string>());
  EXPECT_EQ(req.headers.back().value, want["authorization"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Bedrock, BotocoreVectors, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<nlohmann::json>& p) {
                           std::string n = p.param["name"];
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace signgate::aws
