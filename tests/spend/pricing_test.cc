// Pricing a call (SPEC §8): costs against values computed by hand, lookups by glob, profile and
// family, config entries over shipped ones, and the shipped table itself.
#include "spend/pricing.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace signgate::spend {
namespace {

config::PriceTable table() {
  auto t = config::parse_price_table(R"(
as_of: 2026-12-01
source: "test"
unit: USD per million tokens
tiers: {priority: 1.75, flex: 0.5}
models:
  "anthropic.claude-sonnet-4-5-*": {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6, regional_premium: 0.1}
  "anthropic.claude-3-haiku-*": {input: 0.25, output: 1.25}
  "amazon.nova-pro-v1:*": {input: 0.8, output: 3.2, cache_read: 0.2, cache_write: 0, tiers: {priority: 2, flex: 0.25}}
  "amazon.nova-*": {input: 1, output: 1}
  "amazon.titan-embed-text-v2:*": {input: 0.02}
)",
                                     "test.yaml");
  EXPECT_TRUE(t) << t.message();
  return *t;
}

constexpr double kEps = 1e-12;

TEST(Pricing, PlainCallIsInputAndOutputAtTheirPrices) {
  const auto t = table();
  const Pricing p(t, {});
  // 1,000 in, 500 out of Claude 3 Haiku: 1000 * 0.25 / 1e6 + 500 * 1.25 / 1e6 = 0.00025 + 0.000625.
  EXPECT_NEAR(*p.cost("anthropic.claude-3-haiku-20240307-v1:0", {.input = 1000, .output = 500}, ""), 0.000875, kEps);
  // No regional premium on a model without one, whatever its profile.
  EXPECT_NEAR(*p.cost("us.anthropic.claude-3-haiku-20240307-v1:0", {.input = 1000, .output = 500}, "default"), 0.000875,
              kEps);
}

TEST(Pricing, CacheReadsAndBothKindsOfWrites) {
  const auto t = table();
  const Pricing p(t, {});
  // global. Sonnet 4.5 (no premium): 100 in * 3 + 200 out * 15 + 10,000 read * 0.3
  // + (3,000 - 1,000) 5-minute writes * 3.75 + 1,000 1-hour writes * 6, per million:
  // (300 + 3000 + 3000 + 7500 + 6000) / 1e6 = 0.0198.
  const Usage u{.input = 100, .output = 200, .cache_read = 10'000, .cache_write = 3'000, .cache_write_1h = 1'000};
  EXPECT_NEAR(*p.cost("global.anthropic.claude-sonnet-4-5-20250929-v1:0", u, ""), 0.0198, kEps);
  // A geographic profile and the in-region ID pay 10 % more: 0.02178.
  EXPECT_NEAR(*p.cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", u, ""), 0.02178, kEps);
  EXPECT_NEAR(*p.cost("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", u, ""), 0.02178, kEps);
  EXPECT_NEAR(*p.cost("anthropic.claude-sonnet-4-5-20250929-v1:0", u, ""), 0.02178, kEps);
  // Writes billed at the 5-minute rate would have cost less: the 1-hour share matters.
  const Usage all_5m{.input = 100, .output = 200, .cache_read = 10'000, .cache_write = 3'000, .cache_write_1h = 0};
  EXPECT_NEAR(*p.cost("global.anthropic.claude-sonnet-4-5-20250929-v1:0", all_5m, ""), 0.01755, kEps);
}

TEST(Pricing, ServiceTiersMultiplyTheModelsOwnOrTheDefault) {
  const auto t = table();
  const Pricing p(t, {});
  const Usage u{.input = 1'000'000, .output = 1'000'000};
  EXPECT_NEAR(*p.cost("amazon.nova-pro-v1:0", u, "default"), 4.0, kEps);
  EXPECT_NEAR(*p.cost("amazon.nova-pro-v1:0", u, "priority"), 8.0, kEps);   // its own 2x
  EXPECT_NEAR(*p.cost("us.amazon.nova-pro-v1:0", u, "flex"), 1.0, kEps);    // its own 0.25x
  EXPECT_NEAR(*p.cost("amazon.nova-lite-v1:0", u, "priority"), 3.5, kEps);  // the table's 1.75x
  EXPECT_NEAR(*p.cost("amazon.nova-lite-v1:0", u, "flex"), 1.0, kEps);
  EXPECT_NEAR(*p.cost("amazon.nova-lite-v1:0", u, "reserved"), 2.0, kEps);  // no multiplier known
}

TEST(Pricing, MostSpecificGlobWins) {
  const auto t = table();
  const Pricing p(t, {});
  // "amazon.nova-pro-v1:*" beats "amazon.nova-*".
  EXPECT_EQ(p.find("amazon.nova-pro-v1:0")->price.input, 0.8);
  EXPECT_EQ(p.find("amazon.nova-micro-v1:0")->price.input, 1.0);
}

TEST(Pricing, EmbeddingsAreInputOnlyAndCountTokensNeedNoPrice) {
  const auto t = table();
  const Pricing p(t, {});
  // Three texts of 7, 9 and 4 tokens: 20 * 0.02 / 1e6.
  EXPECT_NEAR(*p.cost("amazon.titan-embed-text-v2:0", {.input = 20}, ""), 0.0000004, kEps);
  // An embedding model has no output price: output it never reports costs nothing.
  EXPECT_TRUE(p.cost("amazon.titan-embed-text-v2:0", {.input = 20, .output = 0}, ""));
}

TEST(Pricing, UnpricedModelsAndMissingPricesAreNull) {
  const auto t = table();
  const Pricing p(t, {});
  EXPECT_FALSE(p.cost("mistral.mistral-large-2407-v1:0", {.input = 10, .output = 10}, ""));
  EXPECT_FALSE(p.find("mistral.mistral-large-2407-v1:0"));
  // A kind of token the entry has no price for makes the cost unknown, not a wrong number.
  EXPECT_FALSE(p.cost("anthropic.claude-3-haiku-20240307-v1:0", {.input = 10, .cache_read = 5}, ""));
  // Nothing used costs nothing.
  EXPECT_EQ(*p.cost("anthropic.claude-3-haiku-20240307-v1:0", {}, ""), 0.0);
}

TEST(Pricing, ConfigEntriesBeatShippedOnesAndBorrowWhatTheyLack) {
  const auto t = table();
  config::PriceEntries own;
  own["anthropic.claude-sonnet-4-5-*"].input = 2.5;  // a negotiated input price only
  own["mistral.*"].input = 1;
  own["mistral.*"].output = 2;
  const Pricing p(t, own);
  // Output, cache prices and the premium come from the shipped entry: global., so no premium:
  // (1000 * 2.5 + 1000 * 15 + 1000 * 0.3) / 1e6.
  EXPECT_NEAR(*p.cost("global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                      {.input = 1000, .output = 1000, .cache_read = 1000}, ""),
              0.0178, kEps);
  EXPECT_NEAR(*p.cost("mistral.mistral-large-2407-v1:0", {.input = 1'000'000, .output = 1'000'000}, ""), 3.0, kEps);
  // A config entry with no shipped counterpart lacks cache prices: unknown when used.
  EXPECT_FALSE(p.cost("mistral.mistral-large-2407-v1:0", {.input = 1, .cache_write = 1}, ""));
}

TEST(Pricing, ApplicationInferenceProfilesTakeTheirFamilysPriceOrTheirOwn) {
  const auto t = table();
  const std::string aip = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123";
  const std::string other = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/zzz";
  config::PriceEntries own;
  own["arn:aws:bedrock:*:application-inference-profile/zzz"].input = 7;
  const Pricing p(t, own, {{aip, "anthropic.claude-sonnet-4-5"}});
  // The family prefix finds the Sonnet 4.5 entry; an in-region family pays the premium:
  // 1,000,000 * 3 * 1.1 / 1e6.
  EXPECT_NEAR(*p.cost(aip, {.input = 1'000'000}, ""), 3.3, kEps);
  EXPECT_NEAR(*p.cost(other, {.input = 1'000'000}, ""), 7.0, kEps);
  EXPECT_FALSE(
      p.cost("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/unknown", {.input = 1}, ""));
  // Foundation-model and system inference-profile ARNs are priced as their model.
  EXPECT_NEAR(*p.cost("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                      {.input = 1'000'000}, ""),
              0.25, kEps);
  EXPECT_NEAR(*p.cost("arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-5-"
                      "20250929-v1:0",
                      {.input = 1'000'000}, ""),
              3.0, kEps);
}

// A config entry for a family reaches its application inference profiles too; an entry naming a
// geographic profile is the price billed there (no premium added again); a family prefix that
// several entries share prices nothing rather than guessing.
TEST(Pricing, ConfigGlobsReachFamiliesAndProfilesAsBilled) {
  const auto t = table();
  const std::string aip = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123";
  config::PriceEntries own;
  own["anthropic.claude-sonnet-4-5-*"].input = 2.7;
  own["us.anthropic.claude-3-haiku-*"].input = 0.3;
  const Pricing p(t, own,
                  {{aip, "global.anthropic.claude-sonnet-4-5"},
                   {"arn:x:bedrock:r:1:application-inference-profile/n", "anthropic.claude"}});
  EXPECT_NEAR(*p.cost(aip, {.input = 1'000'000}, ""), 2.7, kEps);
  EXPECT_NEAR(*p.cost("us.anthropic.claude-3-haiku-20240307-v1:0", {.input = 1'000'000}, ""), 0.3, kEps);
  config::PriceEntries geo;
  geo["us.anthropic.claude-sonnet-4-5-*"].input = 3.3;
  const Pricing q(t, geo);
  EXPECT_NEAR(*q.cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", {.input = 1'000'000}, ""), 3.3, kEps);
  // "anthropic.claude" begins two entries of the test table, and no glob matches it: no price.
  EXPECT_FALSE(p.cost("arn:x:bedrock:r:1:application-inference-profile/n", {.input = 1}, ""));
}

TEST(Pricing, FoundationModelOfProfiles) {
  EXPECT_EQ(foundation_model("apac.amazon.nova-pro-v1:0").foundation, "amazon.nova-pro-v1:0");
  EXPECT_TRUE(foundation_model("apac.amazon.nova-pro-v1:0").regional);
  EXPECT_FALSE(foundation_model("global.amazon.nova-pro-v1:0").regional);
  EXPECT_EQ(foundation_model("arn:aws:bedrock:us-east-1:1:provisioned-model/x").foundation, "");
}

// The table shipped with signgate parses, is dated and sourced, and prices every family the
// issue names, in each kind of profile.
TEST(Pricing, ShippedTableCoversBedrocksFamilies) {
  const config::PriceTable& t = shipped_prices();
  ASSERT_FALSE(t.models.empty());
  EXPECT_EQ(t.as_of.size(), 10u);
  EXPECT_FALSE(t.source.empty());
  const Pricing p(t, {});
  const Usage u{.input = 1000, .output = 1000};
  for (const char* model :
       {"anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-opus-4-1-20250805-v1:0",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-micro-v1:0", "us.amazon.nova-lite-v1:0",
        "amazon.nova-pro-v1:0", "us.amazon.nova-premier-v1:0", "meta.llama3-1-70b-instruct-v1:0",
        "us.meta.llama3-3-70b-instruct-v1:0", "mistral.mistral-large-2402-v1:0", "mistral.mixtral-8x7b-instruct-v0:1",
        "cohere.command-r-plus-v1:0", "amazon.titan-text-express-v1"}) {
    EXPECT_TRUE(p.cost(model, u, "")) << model;
  }
  for (const char* model : {"amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"}) {
    EXPECT_TRUE(p.cost(model, {.input = 1000}, "")) << model;
  }
  // Claude 4.5: cache writes of both lengths and reads are priced; regional profiles cost more.
  const Usage cached{.input = 10, .output = 10, .cache_read = 100, .cache_write = 100, .cache_write_1h = 50};
  const auto global = p.cost("global.anthropic.claude-sonnet-4-5-20250929-v1:0", cached, "");
  const auto us = p.cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", cached, "");
  ASSERT_TRUE(global && us);
  EXPECT_GT(*us, *global);
}

TEST(PriceTable, RefusesWhatIsNotATable) {
  EXPECT_FALSE(config::parse_price_table("as_of: 2026-12-01\nsource: x\nmodels: {}\n", "t"));        // no models
  EXPECT_FALSE(config::parse_price_table("source: x\nmodels: {\"a\": {input: 1}}\n", "t"));          // no date
  EXPECT_FALSE(config::parse_price_table("as_of: 2026-12-01\nmodels: {\"a\": {input: 1}}\n", "t"));  // no source
  const auto no_input = config::parse_price_table("as_of: 2026-12-01\nsource: x\nmodels: {\"a\": {output: 1}}\n", "t");
  ASSERT_FALSE(no_input);
  EXPECT_NE(no_input.message().find("input: is required"), std::string::npos) << no_input.message();
  const auto bad = config::parse_price_table(
      "as_of: 2026-12-01\nsource: x\nmodels: {\"a\": {input: -1, output: lots, cache_reed: 1}}\n", "t");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("must be a number from 0"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("cache_reed: unknown key"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace signgate::spend
