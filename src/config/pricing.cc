#include "config/pricing.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>

#include "aws/model_pattern.h"
#include "common/env.h"
#include "common/time.h"
#include "config/reader.h"

namespace signgate::config {

namespace detail {

namespace {

// A decimal number from `min` to `max` (YAML's plain scalars: "3", "0.30", "1e-3").
std::optional<double> decimal(Reader& r, const YAML::Node& map, const std::string& where, const char* key, double min,
                              double max) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) {
    r.problems().add(Reader::join(where, key), "must be a number");
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < min || v > max) {
    r.problems().add(Reader::join(where, key), "must be a number from " + std::to_string(static_cast<long long>(min)) +
                                                   " to " + std::to_string(static_cast<long long>(max)) + ", not '" +
                                                   s + "'");
    return std::nullopt;
  }
  return v;
}

// Prices above this many USD per million tokens are a typo (per thousand? per token?).
constexpr double kMaxPrice = 10'000;

void read_tiers(Reader& r, const YAML::Node& node, const std::string& where,
                std::map<std::string, double, std::less<>>& out) {
  if (!node || node.IsNull()) return;
  if (!node.IsMap()) {
    r.problems().add(where, "must map tier names (priority, flex) to multipliers of the standard price");
    return;
  }
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    if (name != "priority" && name != "flex" && name != "reserved") {
      r.problems().add(Reader::join(where, name), "unknown service tier (priority, flex, reserved)");
      continue;
    }
    if (auto m = decimal(r, node, where, name.c_str(), 0, 100)) out[name] = *m;
  }
}

}  // namespace

void read_price_entries(Reader& r, const YAML::Node& node, const std::string& where, PriceEntries& out,
                        bool input_required) {
  if (!node || node.IsNull()) return;
  if (!node.IsMap()) {
    r.problems().add(where,
                     "must map model globs to prices ({input, output, cache_read, cache_write, "
                     "cache_write_1h} in USD per million tokens)");
    return;
  }
  for (const auto& kv : node) {
    const std::string glob = kv.first.as<std::string>();
    const std::string w = Reader::join(where, glob);
    if (glob.empty() || glob.size() > 2048 ||
        glob.find_first_of(std::string_view("\0\r\n\t ", 5)) != std::string::npos) {
      r.problems().add(w, "must be a model ID or glob");
      continue;
    }
    if (!kv.second.IsMap()) {
      r.problems().add(w, "must be {input, output, cache_read, cache_write, cache_write_1h} in USD per million tokens");
      continue;
    }
    r.only(kv.second, w,
           {"input", "output", "cache_read", "cache_write", "cache_write_1h", "regional_premium", "tiers"});
    ModelPrice p;
    p.input = decimal(r, kv.second, w, "input", 0, kMaxPrice);
    p.output = decimal(r, kv.second, w, "output", 0, kMaxPrice);
    p.cache_read = decimal(r, kv.second, w, "cache_read", 0, kMaxPrice);
    p.cache_write = decimal(r, kv.second, w, "cache_write", 0, kMaxPrice);
    p.cache_write_1h = decimal(r, kv.second, w, "cache_write_1h", 0, kMaxPrice);
    p.regional_premium = decimal(r, kv.second, w, "regional_premium", 0, 10);
    read_tiers(r, kv.second["tiers"], Reader::join(w, "tiers"), p.tiers);
    if (input_required && !p.input && !kv.second["input"]) r.problems().add(Reader::join(w, "input"), "is required");
    if (!out.emplace(glob, std::move(p)).second) r.problems().add(w, "is given twice");
  }
}

}  // namespace detail

Result<PriceTable> parse_price_table(std::string_view text, const std::string& source) {
  detail::Problems p(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return make_error(source + ": not YAML: " + e.what());
  }
  if (!root.IsMap()) return make_error(source + ": must be a mapping");
  p.set_root(root);
  const Environment none = fixed_environment({});
  detail::Reader r(none, p);
  r.only(root, "", {"as_of", "source", "unit", "tiers", "models"});
  PriceTable t;
  t.as_of = root["as_of"] && root["as_of"].IsScalar() ? root["as_of"].Scalar() : "";
  if (!parse_iso8601(t.as_of + "T00:00:00Z")) p.add("as_of", "must be the date the prices were read (YYYY-MM-DD)");
  t.source = root["source"] && root["source"].IsScalar() ? root["source"].Scalar() : "";
  if (t.source.empty()) p.add("source", "must name where the prices come from");
  if (const YAML::Node u = root["unit"]; u && (!u.IsScalar() || u.Scalar() != "USD per million tokens")) {
    p.add("unit", "must be 'USD per million tokens'");
  }
  detail::read_tiers(r, root["tiers"], "tiers", t.tiers);
  detail::read_price_entries(r, root["models"], "models", t.models, true);
  if (t.models.empty()) p.add("models", "must price at least one model");
  if (!p.empty()) return make_error(p.text());
  return t;
}

}  // namespace signgate::config
