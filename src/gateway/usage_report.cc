#include "gateway/usage_report.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iterator>

#include "api/json_scan.h"
#include "gateway/fleet.h"

namespace signgate::gateway {

namespace {

namespace chrono = std::chrono;

std::int64_t day_of(const chrono::year_month_day& ymd) { return chrono::sys_days(ymd).time_since_epoch().count(); }

chrono::year_month_day date_of(std::int64_t day) { return chrono::year_month_day(chrono::sys_days(chrono::days(day))); }

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view digits) {
  int value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

// A token count: absent or null is 0 (no usage known); anything but a whole number is not an
// audit line's.
bool read_count(const simdjson::dom::object& line, std::string_view key, std::int64_t& out) {
  simdjson::dom::element value;
  if (line.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) {
    out = 0;
    return true;
  }
  std::uint64_t count = 0;
  if (value.get_uint64().get(count) != simdjson::SUCCESS || count > (1ull << 62)) return false;
  out = static_cast<std::int64_t>(count);
  return true;
}

std::optional<std::string_view> read_string(const simdjson::dom::object& line, std::string_view key) {
  std::string_view value;
  if (line.at_key(key).get_string().get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

bool is_2xx(std::uint64_t status) { return status >= 200 && status <= 299; }

// Whether Bedrock answered (and so billed) the call, as the gateway priced and charged it
// (pipeline.cc's price()): its upstream_status is 2xx, whatever became of the answer after (a
// caller gone, 499). nullopt when the line lacks a status or upstream_status (a number, or null
// for a call that never reached Bedrock).
std::optional<bool> answered(const simdjson::dom::object& line) {
  std::uint64_t status = 0;
  if (line.at_key("status").get_uint64().get(status) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::element upstream;
  if (line.at_key("upstream_status").get(upstream) != simdjson::SUCCESS) return std::nullopt;
  if (upstream.is_null()) return false;
  std::uint64_t upstream_status = 0;
  if (upstream.get_uint64().get(upstream_status) != simdjson::SUCCESS) return std::nullopt;
  if (is_2xx(upstream_status)) return true;
  // Calls of a request Bedrock answered before another of them failed (an embeddings fan-out)
  // were billed and priced: a cost on a failed request says so.
  double cost = 0;
  return line.at_key("cost_usd").get_double().get(cost) == simdjson::SUCCESS;
}

// cost_usd: a number is priced (its nano-dollars), null or absent unpriced; false for any
// other value.
bool read_cost(const simdjson::dom::object& line, UsageCounts& counts) {
  simdjson::dom::element value;
  if (line.at_key("cost_usd").get(value) != simdjson::SUCCESS || value.is_null()) {
    counts.unpriced = 1;
    return true;
  }
  double usd = 0;
  if (value.get_double().get(usd) != simdjson::SUCCESS || usd < 0) return false;
  counts.nano_usd = auth::to_nano_usd(usd);
  return true;
}

bool read_counts(const simdjson::dom::object& line, UsageCounts& counts) {
  counts = UsageCounts{};
  counts.requests = 1;
  return read_count(line, "input_tokens", counts.input) && read_count(line, "output_tokens", counts.output) &&
         read_count(line, "cache_read_tokens", counts.cache_read) &&
         read_count(line, "cache_write_tokens", counts.cache_write) && read_cost(line, counts);
}

// The counter a totals hash's field names after the model's last '|'.
std::int64_t* counter(UsageCounts& counts, std::string_view name) {
  if (name == "requests") return &counts.requests;
  if (name == "input") return &counts.input;
  if (name == "output") return &counts.output;
  if (name == "cache_read") return &counts.cache_read;
  if (name == "cache_write") return &counts.cache_write;
  if (name == "nano_usd") return &counts.nano_usd;
  if (name == "unpriced") return &counts.unpriced;
  return nullptr;
}

}  // namespace

std::optional<std::int64_t> parse_utc_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const std::string_view y = text.substr(0, 4), m = text.substr(5, 2), d = text.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return std::nullopt;
  const chrono::year_month_day ymd{chrono::year(to_int(y)), chrono::month(static_cast<unsigned>(to_int(m))),
                                   chrono::day(static_cast<unsigned>(to_int(d)))};
  if (!ymd.ok()) return std::nullopt;
  return day_of(ymd);
}

std::string format_utc_date(std::int64_t day) {
  const auto ymd = date_of(day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

Result<UsagePeriod> usage_period(const std::optional<std::string>& since, const std::optional<std::string>& until,
                                 SystemTime now) {
  const std::int64_t today = auth::utc_day(now);
  const auto this_month = date_of(today);
  UsagePeriod period{day_of(this_month.year() / this_month.month() / 1), today};
  std::string bad;
  const auto take = [&bad](const char* flag, const std::optional<std::string>& given, std::int64_t& day) {
    if (!given || !bad.empty()) return;
    if (const auto parsed = parse_utc_date(*given)) {
      day = *parsed;
    } else {
      bad = std::string(flag) + " '" + *given + "' is not a date (YYYY-MM-DD)";
    }
  };
  take("--until", until, period.until);
  if (until && !since && bad.empty()) {
    // --until alone: the month it falls in, up to it (not an error for an earlier month).
    const auto last = date_of(period.until);
    period.since = day_of(last.year() / last.month() / 1);
  }
  take("--since", since, period.since);
  if (!bad.empty()) return make_error(bad);
  if (period.since > period.until) {
    return make_error("--since " + format_utc_date(period.since) + " is after --until " +
                      format_utc_date(period.until));
  }
  const std::int64_t days = period.until - period.since + 1;
  if (days > kMaxUsageDays) {
    return make_error("the period is " + std::to_string(days) + " days long; at most " + std::to_string(kMaxUsageDays) +
                      " (as long as Redis keeps the totals)");
  }
  return period;
}

void UsageCounts::add(const UsageCounts& other) {
  requests += other.requests;
  input += other.input;
  output += other.output;
  cache_read += other.cache_read;
  cache_write += other.cache_write;
  nano_usd += other.nano_usd;
  unpriced += other.unpriced;
}

std::optional<auth::NanoUsd> UsageCounts::cost() const {
  if (unpriced > 0 && unpriced >= requests && nano_usd == 0) return std::nullopt;
  return nano_usd;
}

AuditLineKind read_audit_line(std::string_view line, AuditUsage& out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object doc;
  if (parser.parse(line.data(), line.size(), true).get_object().get(doc) != simdjson::SUCCESS) {
    return AuditLineKind::kMalformed;
  }
  const auto ts_text = read_string(doc, "ts");
  const auto ts = ts_text ? parse_iso8601(*ts_text) : std::nullopt;
  const auto is_answered = answered(doc);
  if (!ts || !is_answered) return AuditLineKind::kMalformed;
  if (!*is_answered) return AuditLineKind::kNotAnswered;
  const auto client = read_string(doc, "client");
  const auto model = read_string(doc, "model");
  const auto target_model = read_string(doc, "target_model");
  if (!client || client->empty() || !model || !read_counts(doc, out.counts)) return AuditLineKind::kMalformed;
  out.day = auth::utc_day(*ts);
  out.client.assign(*client);
  out.model.assign(target_model && !target_model->empty() ? *target_model : *model);
  return AuditLineKind::kAnswered;
}

std::string usage_key(std::string_view client, std::int64_t day) {
  return redis_prefix(client) + "usage:" + format_utc_date(day);
}

std::size_t add_usage_hash(UsageRows& rows, std::string_view client,
                           const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t unread = 0;
  for (const auto& [field, value] : fields) {
    const std::size_t bar = field.rfind('|');
    std::int64_t amount = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), amount);
    UsageCounts found;
    std::int64_t* slot = bar == std::string::npos ? nullptr : counter(found, std::string_view(field).substr(bar + 1));
    if (slot == nullptr || ec != std::errc() || end != value.data() + value.size()) {
      ++unread;
      continue;
    }
    *slot = amount;
    rows[{std::string(client), field.substr(0, bar)}].add(found);
  }
  return unread;
}

std::string format_dollars(auth::NanoUsd amount) {
  const bool negative = amount < 0;
  const auto magnitude = static_cast<std::uint64_t>(negative ? -amount : amount);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%llu.%09llu", negative ? "-" : "",
                static_cast<unsigned long long>(magnitude / 1'000'000'000),
                static_cast<unsigned long long>(magnitude % 1'000'000'000));
  std::string text(buf);
  while (text.back() == '0' && text[text.size() - 3] != '.') text.pop_back();
  return text;
}

namespace {

constexpr std::string_view kHeadings[] = {"client", "model",      "requests",    "input",
                                          "output", "cache read", "cache write", "cost USD"};
constexpr std::size_t kColumns = std::size(kHeadings);
constexpr std::size_t kLeftAligned = 2;  // client and model; the numbers are right-aligned

using Cells = std::array<std::string, kColumns>;

std::string cost_cell(const UsageCounts& c) {
  const auto cost = c.cost();
  if (!cost) return "unknown";
  std::string cell = format_dollars(*cost);
  if (c.unpriced > 0) cell += " (+" + std::to_string(c.unpriced) + " unpriced)";
  return cell;
}

Cells cells(std::string client, std::string model, const UsageCounts& c) {
  return {std::move(client),
          std::move(model),
          std::to_string(c.requests),
          std::to_string(c.input),
          std::to_string(c.output),
          std::to_string(c.cache_read),
          std::to_string(c.cache_write),
          cost_cell(c)};
}

// The table's lines: each client's models, then its total; the overall total last.
std::vector<Cells> table_lines(const UsageRows& rows) {
  std::vector<Cells> lines;
  lines.push_back({});
  std::copy(std::begin(kHeadings), std::end(kHeadings), lines.back().begin());
  UsageCounts overall, client_total;
  for (auto it = rows.begin(); it != rows.end(); ++it) {
    const auto& [key, counts] = *it;
    lines.push_back(cells(key.first, key.second, counts));
    client_total.add(counts);
    overall.add(counts);
    const auto next = std::next(it);
    if (next == rows.end() || next->first.first != key.first) {
      lines.push_back(cells(key.first, "total", client_total));
      client_total = UsageCounts{};
    }
  }
  lines.push_back(cells("total", "", overall));
  return lines;
}

void append_counts_json(std::string& out, const UsageCounts& c) {
  out += "\"requests\":" + std::to_string(c.requests);
  out += ",\"input_tokens\":" + std::to_string(c.input);
  out += ",\"output_tokens\":" + std::to_string(c.output);
  out += ",\"cache_read_tokens\":" + std::to_string(c.cache_read);
  out += ",\"cache_write_tokens\":" + std::to_string(c.cache_write);
  const auto cost = c.cost();
  out += ",\"cost_usd\":" + (cost ? format_dollars(*cost) : std::string("null"));
  out += ",\"unpriced_requests\":" + std::to_string(c.unpriced);
}

}  // namespace

std::string format_usage_table(const UsageRows& rows) {
  const auto lines = table_lines(rows);
  std::array<std::size_t, kColumns> width{};
  for (const auto& line : lines) {
    for (std::size_t i = 0; i < kColumns; ++i) width[i] = std::max(width[i], line[i].size());
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (std::size_t i = 0; i < kColumns; ++i) {
      if (i != 0) text += "  ";
      const std::string pad(width[i] - line[i].size(), ' ');
      text += i < kLeftAligned ? line[i] + pad : pad + line[i];
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + '\n';
  }
  return out;
}

std::string format_usage_json(const UsageRows& rows, const UsagePeriod& period, std::string_view source) {
  std::string out = "{\"since\":\"" + format_utc_date(period.since) + "\",\"until\":\"" +
                    format_utc_date(period.until) + "\",\"source\":";
  api::append_json_string_checked(out, source);
  out += ",\"rows\":[";
  UsageCounts total;
  bool first = true;
  for (const auto& [key, counts] : rows) {
    if (!first) out += ',';
    first = false;
    out += "{\"client\":";
    api::append_json_string_checked(out, key.first);
    out += ",\"model\":";
    api::append_json_string_checked(out, key.second);
    out += ',';
    append_counts_json(out, counts);
    out += '}';
    total.add(counts);
  }
  out += "],\"totals\":{";
  append_counts_json(out, total);
  out += "}}\n";
  return out;
}

}  // namespace signgate::gateway
