// Pricing an answered call (SPEC §8), once per request in the pipeline's finish step: the model
// looked up among the shipped table's globs and the config's, then the arithmetic.
#include <benchmark/benchmark.h>

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
