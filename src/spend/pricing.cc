#include "spend/pricing.h"

#include <spdlog/spdlog.h>

#include <array>
#include <cstdlib>

#include "aws/model_pattern.h"

namespace signgate::spend {

extern const char kShippedPriceTable[];  // bedrock_prices.yaml, embedded by the build

const config::PriceTable& shipped_prices() {
  static const config::PriceTable table = [] {
    auto t = config::parse_price_table(kShippedPriceTable, "bedrock_prices.yaml");
    if (!t) {
      // Only a broken build gets here: the unit tests parse the same text.
      spdlog::critical("the shipped price table does not parse: {}", t.message());
      return config::PriceTable{};
    }
    return *t;
  }();
  return table;
}

ModelName foundation_model(std::string_view model) {
  ModelName out;
  if (model.starts_with("arn:")) {
    const auto slash = model.find('/');
    const auto colon = model.rfind(':', slash);
    if (slash == std::string_view::npos || colon == std::string_view::npos) return {"", true};
    const std::string_view kind = model.substr(colon + 1, slash - colon - 1);
    if (kind != "foundation-model" && kind != "inference-profile") return {"", true};
    model = model.substr(slash + 1);
  }
  static constexpr std::array<std::string_view, 8> kGeographies = {"us.", "eu.", "apac.",   "jp.",
                                                                   "au.", "ca.", "us-gov.", "global."};
  for (std::string_view g : kGeographies) {
    if (model.starts_with(g)) {
      out.regional = g != "global.";
      model.remove_prefix(g.size());
      break;
    }
  }
  out.foundation = model;
  return out;
}

namespace {

// How specific a glob is: its literal characters, then its length.
std::pair<std::size_t, std::size_t> specificity(std::string_view glob) {
  std::size_t literal = 0;
  for (char ch : glob) literal += ch != '*';
  return {literal, glob.size()};
}

// The most specific entry of `entries` that matches any of `names` (empty ones skipped).
const config::ModelPrice* best_match(const config::PriceEntries& entries,
                                     std::initializer_list<std::string_view> names) {
  const config::ModelPrice* best = nullptr;
  std::pair<std::size_t, std::size_t> best_rank{0, 0};
  for (const auto& [glob, price] : entries) {
    bool matched = false;
    for (std::string_view n : names) matched = matched || (!n.empty() && aws::glob_match(glob, n));
    if (!matched) continue;
    const auto rank = specificity(glob);
    if (best == nullptr || rank > best_rank) {
      best = &price;
      best_rank = rank;
    }
  }
  return best;
}

// The shipped entry for a foundation model, or for a family named by its prefix
// ("anthropic.claude-sonnet-4-5": the first entry whose glob begins with it).
const config::ModelPrice* shipped_match(const config::PriceEntries& entries, std::string_view foundation) {
  if (foundation.empty()) return nullptr;
  const std::string dashed = std::string(foundation) + "-";
  if (const auto* p = best_match(entries, {foundation, dashed})) return p;
  // Only when the prefix names one entry: "amazon.nova" could be any Nova, and a guess is a
  // wrong price.
  const config::ModelPrice* only = nullptr;
  for (const auto& [glob, price] : entries) {
    if (!std::string_view(glob).starts_with(dashed)) continue;
    if (only != nullptr) return nullptr;
    only = &price;
  }
  return only;
}

void fill(std::optional<double>& into, const std::optional<double>& from) {
  if (!into) into = from;
}

}  // namespace

Pricing::Pricing(const config::PriceTable& shipped, config::PriceEntries configured,
                 std::map<std::string, std::string> families)
    : shipped_(shipped), configured_(std::move(configured)), families_(families.begin(), families.end()) {}

std::optional<Pricing::Found> Pricing::find(std::string_view model) const {
  ModelName name = foundation_model(model);
  if (name.foundation.empty()) {
    // An application inference profile (or a provisioned model): priced as its family.
    if (const auto family = families_.find(model); family != families_.end()) name = foundation_model(family->second);
  }
  // A config glob may name the model as sent, its foundation model, or (an application
  // inference profile's) family by prefix, as the shipped table is searched.
  const std::string dashed = name.foundation.empty() ? std::string() : std::string(name.foundation) + "-";
  const config::ModelPrice* own = best_match(configured_, {model, name.foundation, dashed});
  const config::ModelPrice* shipped = shipped_match(shipped_.models, name.foundation);
  if (own == nullptr && shipped == nullptr) return std::nullopt;
  Found f{own != nullptr ? *own : *shipped, name.regional};
  if (own != nullptr && shipped != nullptr) {
    fill(f.price.input, shipped->input);
    fill(f.price.output, shipped->output);
    fill(f.price.cache_read, shipped->cache_read);
    fill(f.price.cache_write, shipped->cache_write);
    fill(f.price.cache_write_1h, shipped->cache_write_1h);
    // An entry that names a geographic profile ("us.anthropic...") is the price as billed
    // there: the shipped premium is not added to it again.
    const bool names_profile = best_match(configured_, {name.foundation, dashed}) != own;
    if (!names_profile) fill(f.price.regional_premium, shipped->regional_premium);
    for (const auto& [tier, m] : shipped->tiers) f.price.tiers.emplace(tier, m);
  }
  return f;
}

std::optional<Pricing::Found> Pricing::find_remembered(std::string_view model) const {
  {
    std::shared_lock lock(remembered_mutex_);
    if (const auto it = remembered_.find(model); it != remembered_.end()) return it->second;
  }
  auto found = find(model);
  std::unique_lock lock(remembered_mutex_);
  if (remembered_.size() < kMaxRemembered) remembered_.emplace(std::string(model), found);
  return found;
}

std::optional<double> Pricing::cost(std::string_view model, const Usage& usage, std::string_view tier) const {
  const auto found = find_remembered(model);
  if (!found) return std::nullopt;
  const config::ModelPrice& p = found->price;
  double total = 0;
  bool priced = true;
  const auto add = [&](std::uint64_t tokens, const std::optional<double>& per_million) {
    if (tokens == 0) return;
    if (!per_million) {
      priced = false;
      return;
    }
    total += static_cast<double>(tokens) * *per_million;
  };
  const std::uint64_t hour = std::min(usage.cache_write_1h, usage.cache_write);
  add(usage.input, p.input);
  add(usage.output, p.output);
  add(usage.cache_read, p.cache_read);
  add(usage.cache_write - hour, p.cache_write);
  add(hour, p.cache_write_1h);
  if (!priced) return std::nullopt;
  double multiplier = 1;
  if (found->regional && p.regional_premium) multiplier += *p.regional_premium;
  if (!tier.empty() && tier != "default") {
    if (const auto t = p.tiers.find(tier); t != p.tiers.end()) {
      multiplier *= t->second;
    } else if (const auto d = shipped_.tiers.find(tier); d != shipped_.tiers.end()) {
      multiplier *= d->second;
    }
  }
  return total / 1e6 * multiplier;
}

}  // namespace signgate::spend
