// Signing cost on the gateway's hot path: a Bedrock Converse request, key cached.
#include <benchmark/benchmark.h>

#include "aws/sigv4.h"

namespace {

using namespace signgate;
using namespace signgate::aws;

const Credentials kCreds("ASIAEXAMPLEEXAMPLE01", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                         "IQoJb3JpZ2luX2VjEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLE");

HttpRequest converse_request() {
  return {"POST",
          "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
          "",
          {{"Host", "bedrock-runtime.us-east-1.amazonaws.com"},
           {"Content-Type", "application/json"},
           {"Accept", "application/json"}}};
}

// The whole per-request cost: payload hash, canonical request, string to sign, HMAC,
// Authorization header. The signing key comes from the cache after the first iteration.
void BM_SignConverse(benchmark::State& state) {
  const std::string body(static_cast<std::size_t>(state.range(0)), 'x');
  const auto opts = SigningOptions::for_service("us-east-1", "bedrock");
  const SystemTime now = system_now();
  Signer signer([now] { return now; });
  for (auto _ : state) {
    HttpRequest req = converse_request();
    auto sig = signer.sign(req, sha256_hex(body), kCreds, opts);
    benchmark::DoNotOptimize(sig);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SignConverse)->Arg(1024)->Arg(64 * 1024);

// Signing without the body hash (the gateway can hash while the body streams in).
void BM_SignConverseHashGiven(benchmark::State& state) {
  const std::string hash = sha256_hex(std::string(1024, 'x'));
  const auto opts = SigningOptions::for_service("us-east-1", "bedrock");
  const SystemTime now = system_now();
  Signer signer([now] { return now; });
  for (auto _ : state) {
    HttpRequest req = converse_request();
    auto sig = signer.sign(req, hash, kCreds, opts);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_SignConverseHashGiven);

// The four-HMAC derivation that the cache saves on every request but the first of the day.
void BM_DeriveSigningKey(benchmark::State& state) {
  for (auto _ : state) {
    auto key = derive_signing_key(kCreds.secret_access_key(), "20261125", "us-east-1", "bedrock");
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_DeriveSigningKey);

void BM_Sha256(benchmark::State& state) {
  const std::string body(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(sha256(body));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(1024)->Arg(64 * 1024);

}  // namespace
