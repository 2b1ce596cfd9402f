// What `signgate usage` reports (SPEC §8): answered calls, tokens and spend per client and
// model over whole UTC days, summed from audit lines or from the per-day totals the fleet keeps
// in Redis, and printed as a table or as JSON. Pure: the command (cli/usage_command.cc) reads
// the files and Redis and passes the clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/limits.h"
#include "common/result.h"
#include "common/time.h"

namespace signgate::gateway {

// Days are whole days since 1970-01-01, UTC (auth::utc_day's count).
// "YYYY-MM-DD" → its day; nullopt for any other form or a date that does not exist.
std::optional<std::int64_t> parse_utc_date(std::string_view text);
std::string format_utc_date(std::int64_t day);

// The days a report covers, both included.
struct UsagePeriod {
  std::int64_t since = 0;
  std::int64_t until = 0;
  bool contains(std::int64_t day) const { return day >= since && day <= until; }
};
inline constexpr std::int64_t kMaxUsageDays = 400;  // as long as Redis keeps the totals

// The period from --since and --until (each optional: `now`'s day for --until; for --since the
// first day of --until's month, so `--until 2026-11-30` alone is November up to then). Fails, saying why, on a
// malformed date, since after until, or more than kMaxUsageDays days.
Result<UsagePeriod> usage_period(const std::optional<std::string>& since, const std::optional<std::string>& until,
                                 SystemTime now);

// One row's sums. Calls are answered calls; unpriced those of them without a price.
struct UsageCounts {
  std::int64_t requests = 0;
  std::int64_t input = 0;
  std::int64_t output = 0;
  std::int64_t cache_read = 0;
  std::int64_t cache_write = 0;
  auth::NanoUsd nano_usd = 0;  // of the priced calls
  std::int64_t unpriced = 0;
  void add(const UsageCounts& other);
  // The cost, or nullopt when every call was unpriced (nothing is known).
  std::optional<auth::NanoUsd> cost() const;
};

// Rows per (client, model), in that order.
using UsageRows = std::map<std::pair<std::string, std::string>, UsageCounts>;

// One audit line's part in a report.
struct AuditUsage {
  std::int64_t day = 0;  // of its ts
  std::string client;
  std::string model;  // as sent to Bedrock: target_model when set, else model
  UsageCounts counts;
};
enum class AuditLineKind { kAnswered, kNotAnswered, kMalformed };
// Reads one audit line (SPEC §5). kAnswered (filling `out`) for a call Bedrock answered, and
// billed (upstream_status 2xx, whatever its status); kMalformed for a line that is not a
// JSON object or lacks ts, client, model or status. Token counts absent or null count as 0,
// and a cost_usd absent or null makes the call unpriced.
AuditLineKind read_audit_line(std::string_view line, AuditUsage& out);

// The Redis key of `client`'s totals for `day`: "signgate:{CLIENT}:usage:YYYY-MM-DD".
std::string usage_key(std::string_view client, std::int64_t day);
// Adds one day's totals hash (fields "MODEL|requests", "MODEL|input", "MODEL|output",
// "MODEL|cache_read", "MODEL|cache_write", "MODEL|nano_usd", "MODEL|unpriced"; integers) to
// `rows` under `client`. Returns how many fields it could not read (no '|', an unknown
// counter, a value that is not an integer).
std::size_t add_usage_hash(UsageRows& rows, std::string_view client,
                           const std::vector<std::pair<std::string, std::string>>& fields);

// "12.50", "0.000042": dollars to the nano-dollar, at least two decimals, no trailing zeros
// beyond them.
std::string format_dollars(auth::NanoUsd amount);

// The table: a row per client and model, a total line per client and an overall total.
std::string format_usage_table(const UsageRows& rows);
// The JSON object: since, until, source, rows and totals.
std::string format_usage_json(const UsageRows& rows, const UsagePeriod& period, std::string_view source);

}  // namespace signgate::gateway
