// AWS's own SigV4 test suite (aws-c-auth, Apache-2.0, see tests/data/sigv4-aws-c-auth/LICENSE):
// every case, in the header-signed and the query-signed (presigned) form, each stage compared.
#include "aws/sigv4.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "testdata.h"
#include <map>
#include <sstream>

namespace signgate::aws {
namespace {

namespace fs = std::filesystem;
const fs::path kSuite = testing_support::kTestData / "sigv4-aws-c-auth";

using testing_support::read_file;

struct SuiteRequest {
  HttpRequest request;
  std::string body;
};

// request.txt: request line, headers (continuation lines folded in), blank line, body.
SuiteRequest parse_request(const std::string& text) {
  SuiteRequest r;
  std::size_t pos = text.find('\n');
  const std::string line = text.substr(0, pos);
  const std::size_t sp = line.find(' ');
  const std::size_t ver = line.rfind(" HTTP/");
  r.request.method = line.substr(0, sp);
  const std::string target = line.substr(sp + 1, ver - sp - 1);
  const std::size_t q = target.find('?');
  r.request.path = target.substr(0, q);
  if (q != std::string::npos) r.request.query = target.substr(q + 1);
  while (pos != std::string::npos && pos + 1 < text.size()) {
    const std::size_t start = pos + 1;
    pos = text.find('\n', start);
    const std::string h = text.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    if (h.empty()) {
      if (pos != std::string::npos) r.body = text.substr(pos + 1);
      break;
    }
    if (h.front() == ' ' || h.front() == '\t') {
      r.request.headers.back().value += "\n" + h;  // obs-fold: part of the previous value
      continue;
    }
    const std::size_t colon = h.find(':');
    r.request.headers.push_back({h.substr(0, colon), h.substr(colon + 1)});
  }
  return r;
}

std::map<std::string, std::string> query_params(const std::string& target) {
  std::map<std::string, std::string> out;
  const std::size_t q = target.find('?');
  if (q == std::string::npos) return out;
  std::istringstream in(target.substr(q + 1));
  std::string pair;
  while (std::getline(in, pair, '&')) {
    const std::size_t eq = pair.find('=');
    out[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
  }
  return out;
}

struct Case {
  std::string name;
  nlohmann::json context;
  SuiteRequest req;
  Credentials creds;
  SigningOptions opts;
};

Case load(const std::string& name) {
  const fs::path dir = kSuite / name;
  auto ctx = nlohmann::json::parse(read_file(dir / "context.json"));
  const auto& c = ctx["credentials"];
  Case k{name, ctx, parse_request(read_file(dir / "request.txt")),
         Credentials(c["access_key_id"], c["secret_access_key"], c.value("token", "")),
         SigningOptions::for_service(ctx["region"], ctx["service"])};
  k.opts.normalize_path = ctx.value("normalize", true);
  k.opts.sign_session_token = !ctx.value("omit_session_token", false);
  k.opts.add_content_sha256_header = ctx.value("sign_body", false);
  return k;
}

std::vector<std::string> suite_cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kSuite)) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class AwsSuite : public testing::TestWithParam<std::string> {};

// Header form: canonical request, string to sign, signature and the Authorization header
// all equal AWS's files.
TEST_P(AwsSuite, HeaderSigned) {
  Case k = load(GetParam());
  const fs::path dir = kSuite / k.name;
  Signer signer([&] { return *parse_iso8601(k.context["timestamp"].get<std::string>()); });
  const Signature sig = signer.sign(k.req.request, sha256_hex(k.req.body), k.creds, k.opts);
  EXPECT_EQ(sig.canonical_request, read_file(dir / "header-canonical-request.txt"));
  EXPECT_EQ(sig.string_to_sign, read_file(dir / "header-string-to-sign.txt"));
  EXPECT_EQ(sig.signature, read_file(dir / "header-signature.txt"));

  const SuiteRequest expected = parse_request(read_file(dir / "header-signed-request.txt"));
  std::map<std::string, std::string> want, got;
  for (const auto& h : expected.request.headers) want[h.name] += h.value;
  for (const auto& h : k.req.request.headers) got[h.name] += h.value;
  EXPECT_EQ(got, want);
}

// Query form: the same stages, and the X-Amz-* parameters of the presigned URL.
TEST_P(AwsSuite, QuerySigned) {
  Case k = load(GetParam());
  const fs::path dir = kSuite / k.name;
  Signer signer([&] { return *parse_iso8601(k.context["timestamp"].get<std::string>()); });
  const Signature sig = signer.presign(k.req.request, sha256_hex(k.req.body), k.creds, k.opts,
                                       std::chrono::seconds(k.context["expiration_in_seconds"].get<int>()));
  EXPECT_EQ(sig.canonical_request, read_file(dir / "query-canonical-request.txt"));
  EXPECT_EQ(sig.string_to_sign, read_file(dir / "query-string-to-sign.txt"));
  EXPECT_EQ(sig.signature, read_file(dir / "query-signature.txt"));

  const std::string signed_line = read_file(dir / "query-signed-request.txt");
  const std::string target =
      signed_line.substr(signed_line.find(' ') + 1, signed_line.find(" HTTP/") - signed_line.find(' ') - 1);
  EXPECT_EQ(query_params("?" + k.req.request.query), query_params(target));
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, AwsSuite, testing::ValuesIn(suite_cases()),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The suite is all there: 38 cases.
TEST(AwsSuiteInventory, HasAllCases) { EXPECT_EQ(suite_cases().size(), 38u); }

}  // namespace
}  // namespace signgate::aws
