// What an answered call cost (SPEC §8): its usage times its model's price. A model's price is
// looked up by the model as sent to Bedrock (after aliases and routes): `pricing:` entries of
// the config first, then the table shipped with signgate (bedrock_prices.yaml, dated and
// sourced); the most specific glob (the longest literal part) wins. A geographic profile (us.,
// eu., apac., ...) and global. are priced as their foundation model, geographic ones and in-region
// IDs with the model's regional premium; an application inference profile as the family the
// config's models: gives it, unless a `pricing:` glob names it. Pure; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "config/pricing.h"

namespace signgate::spend {

// What a call used, as Bedrock reported it.
struct Usage {
  std::uint64_t input = 0;  // Bedrock's inputTokens: neither read from nor written to the cache
  std::uint64_t output = 0;
  std::uint64_t cache_read = 0;
  std::uint64_t cache_write = 0;     // every write, 1-hour ones included
  std::uint64_t cache_write_1h = 0;  // of which kept for an hour
};

// The table shipped with signgate, parsed once (a build whose table did not parse fails its tests).
const config::PriceTable& shipped_prices();

class Pricing {
 public:
  // `families`: the config's models: {id, family} (an application inference profile's ARN → the
  // family it serves).
  Pricing(const config::PriceTable& shipped, config::PriceEntries configured,
          std::map<std::string, std::string> families = {});

  // The price `model` is charged at, its missing parts taken from the shipped entry: nullopt when
  // no entry matches. `regional` says whether the regional premium applies.
  struct Found {
    config::ModelPrice price;
    bool regional = false;
  };
  std::optional<Found> find(std::string_view model) const;
  // find(), remembered: a model is looked up among the globs once, then found by name (at most
  // kMaxRemembered models; only answered calls' models, which Bedrock knew, are priced).
  std::optional<Found> find_remembered(std::string_view model) const;
  static constexpr std::size_t kMaxRemembered = 4096;

  // USD for `usage` of `model` in Bedrock's service tier `tier` ("", "default", "priority",
  // "flex"): nullopt when the model has no price, or lacks the price of a kind of token it used.
  std::optional<double> cost(std::string_view model, const Usage& usage, std::string_view tier) const;

  const config::PriceTable& shipped() const { return shipped_; }

 private:
  const config::PriceTable& shipped_;
  config::PriceEntries configured_;
  std::map<std::string, std::string, std::less<>> families_;
  mutable std::shared_mutex remembered_mutex_;
  mutable std::map<std::string, std::optional<Found>, std::less<>> remembered_;
};

// The foundation model an ID, profile or ARN names, without its geographic prefix, and whether
// the call is regional (not global.). Application inference profiles name none ("").
struct ModelName {
  std::string_view foundation;
  bool regional = true;
};
ModelName foundation_model(std::string_view model);

}  // namespace signgate::spend
