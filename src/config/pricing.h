// Prices (SPEC §8): the shape of one model's entry, as both the price table shipped with
// signgate (src/spend/bedrock_prices.yaml) and a config's `pricing:` give it. USD per million
// tokens. Parsing only; looking a model up and pricing a call is spend/pricing.h's.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace signgate::config {

struct ModelPrice {
  std::optional<double> input;  // required in the shipped table; a config entry may take it from there
  std::optional<double> output;
  std::optional<double> cache_read;
  std::optional<double> cache_write;     // a 5-minute cache write
  std::optional<double> cache_write_1h;  // a 1-hour cache write
  // Added to every price for geographic (us., eu., ...) profiles and in-region model IDs, not for
  // global. ones: 0.10 is Bedrock's 10 % for Claude 4.5 and later.
  std::optional<double> regional_premium;
  // Bedrock's service tiers: multipliers of the standard price ("priority", "flex").
  std::map<std::string, double, std::less<>> tiers;
  bool operator==(const ModelPrice&) const = default;
};

// Model glob (over foundation-model IDs, or the model as sent) → its prices.
using PriceEntries = std::map<std::string, ModelPrice, std::less<>>;

struct PriceTable {
  std::string as_of;                                 // YYYY-MM-DD: when the prices were read
  std::string source;                                // where they were read
  std::map<std::string, double, std::less<>> tiers;  // default tier multipliers
  PriceEntries models;
  bool operator==(const PriceTable&) const = default;
};

// The shipped table's format; `source` names the file in problems ("FILE: KEY: reason" lines).
Result<PriceTable> parse_price_table(std::string_view text, const std::string& source);

}  // namespace signgate::config
