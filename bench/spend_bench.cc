// Pricing an answered call (SPEC §8), once per request in the pipeline's finish step: the model
// looked up among the shipped table's globs and the config's, then the arithmetic.
#include <benchmark/benchmark.h>

#include <string>
#include <utility>
#include <vector>

#include "api/request_metadata.h"
#include "spend/pricing.h"

namespace {

using signgate::spend::Pricing;
using signgate::spend::shipped_prices;
using signgate::spend::Usage;

void BM_PriceACall(benchmark::State& state) {
  signgate::config::PriceEntries own;
  own["anthropic.claude-sonnet-4-5-*"].input = 2.7;
  const Pricing p(shipped_prices(), own);
  const Usage u{.input = 1200, .output = 350, .cache_read = 20'000, .cache_write = 1024, .cache_write_1h = 0};
  for (auto _ : state) {
    const auto cost = p.cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", u, "");
    benchmark::DoNotOptimize(cost);
  }
}
BENCHMARK(BM_PriceACall);

// The last entry a lookup meets, and a model no entry matches (every glob tried).
void BM_PriceAnUnpricedModel(benchmark::State& state) {
  const Pricing p(shipped_prices(), {});
  const Usage u{.input = 1200, .output = 350};
  for (auto _ : state) {
    const auto cost = p.cost("writer.palmyra-x5-v1:0", u, "");
    benchmark::DoNotOptimize(cost);
  }
}
BENCHMARK(BM_PriceAnUnpricedModel);

}  // namespace

namespace {

using signgate::api::MetadataStamp;

// signgate's stamp into a Converse body the OpenAI surfaces translated (no requestMetadata of
// its own: the top level is walked, then the stamp spliced in), of about 1 KB and 10 KB.
void BM_StampConverseBody(benchmark::State& state) {
  std::string text;
  while (text.size() < static_cast<std::size_t>(state.range(0)))
    text += "The quick brown fox jumps over the lazy dog. ";
  const std::string body =
      R"({"messages":[{"role":"user","content":[{"text":")" + text +
      R"("}]}],"inferenceConfig":{"maxTokens":1024,"temperature":0.2},"system":[{"text":"Be brief."}]})";
  const std::vector<std::pair<std::string, std::string>> pairs = {{"team", "search"}};
  const MetadataStamp stamp{"flashback-prod", "0f8e2c4a9b7d4e21a3c50f8e2c4a9b7d", pairs};
  for (auto _ : state) {
    std::string b = body;
    const bool stamped = signgate::api::stamp_converse_body(b, stamp);
    benchmark::DoNotOptimize(stamped);
    benchmark::DoNotOptimize(b);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_StampConverseBody)->Arg(1 << 10)->Arg(10 << 10);

// The InvokeModel header, with no pairs of the caller's.
void BM_StampInvokeHeader(benchmark::State& state) {
  const std::vector<std::pair<std::string, std::string>> pairs = {{"team", "search"}};
  const MetadataStamp stamp{"flashback-prod", "0f8e2c4a9b7d4e21a3c50f8e2c4a9b7d", pairs};
  for (auto _ : state) {
    const std::string header = signgate::api::stamp_metadata_header(stamp);
    benchmark::DoNotOptimize(header);
  }
}
BENCHMARK(BM_StampInvokeHeader);

}  // namespace
