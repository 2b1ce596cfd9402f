#include "common/time.h"

#include <array>

namespace signgate {
namespace {

using namespace std::chrono;

struct Fields {
  int year, month, day, hour, minute, second;
};

Fields split(SystemTime t) {
  const auto secs = floor<seconds>(t);
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day ymd{days};
  const hh_mm_ss hms{secs - days};
  return {int(ymd.year()),          int(unsigned(ymd.month())), int(unsigned(ymd.day())),
          int(hms.hours().count()), int(hms.minutes().count()), int(hms.seconds().count())};
}

// Reads exactly `n` digits at `pos`, advancing it.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool literal(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

namespace {

// `value` as exactly `width` digits at `at`.
void put_digits(char* at, int value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
}

// `t`'s year, month, day, hour, minute and second written into `layout` at the places `at`
// gives: digit by digit, as this runs once per request (the signature, the audit line) and
// snprintf costs ~0.3 µs.
std::string format_fields(SystemTime t, std::string layout, const std::array<std::size_t, 6>& at) {
  const Fields f = split(t);
  const std::array<int, 6> values = {f.year, f.month, f.day, f.hour, f.minute, f.second};
  for (std::size_t i = 0; i < values.size(); ++i) put_digits(&layout[at[i]], values[i], i == 0 ? 4 : 2);
  return layout;
}

}  // namespace

std::string format_amz_date(SystemTime t) { return format_fields(t, "00000000T000000Z", {0, 4, 6, 9, 11, 13}); }

std::string format_iso8601(SystemTime t) { return format_fields(t, "0000-00-00T00:00:00Z", {0, 5, 8, 11, 14, 17}); }

std::optional<SystemTime> parse_iso8601(std::string_view s) {
  std::size_t pos = 0;
  Fields f{};
  const bool extended = s.size() > 4 && s[4] == '-';
  if (!digits(s, pos, 4, f.year)) return std::nullopt;
  if (extended && !literal(s, pos, '-')) return std::nullopt;
  if (!digits(s, pos, 2, f.month)) return std::nullopt;
  if (extended && !literal(s, pos, '-')) return std::nullopt;
  if (!digits(s, pos, 2, f.day)) return std::nullopt;
  if (!literal(s, pos, 'T')) return std::nullopt;
  if (!digits(s, pos, 2, f.hour)) return std::nullopt;
  if (extended && !literal(s, pos, ':')) return std::nullopt;
  if (!digits(s, pos, 2, f.minute)) return std::nullopt;
  if (extended && !literal(s, pos, ':')) return std::nullopt;
  if (!digits(s, pos, 2, f.second)) return std::nullopt;
  // Fractional seconds are accepted and dropped: SigV4 works in whole seconds.
  if (extended && pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  int offset_minutes = 0;
  if (literal(s, pos, 'Z')) {
  } else if (extended && pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!digits(s, pos, 2, oh) || !literal(s, pos, ':') || !digits(s, pos, 2, om)) {
      return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;
  const year_month_day ymd{year{f.year}, month{unsigned(f.month)}, day{unsigned(f.day)}};
  if (!ymd.ok()) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits: it ends in April 2262 (found by fuzzing: a
  // year-7517 Expiration overflowed). Later dates are refused, not wrapped around.
  if (f.year < 1678 || f.year > 2261) return std::nullopt;
  const auto tp = sys_days{ymd} + hours{f.hour} + minutes{f.minute} + seconds{f.second} - minutes{offset_minutes};
  return time_point_cast<SystemTime::duration>(tp);
}

}  // namespace signgate
