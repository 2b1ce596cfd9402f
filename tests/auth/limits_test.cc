// What one client may spend: requests and tokens a minute, tokens a day, with both clocks pinned.
#include "auth/limits.h"

#include <gtest/gtest.h>

namespace signgate::auth {
namespace {

using namespace std::chrono_literals;

const SteadyTime kT0{std::chrono::hours(1000)};
const SystemTime kNoon = *parse_iso8601("2026-11-30T12:00:00Z");

TEST(ClientLimiter, RequestsBucketHoldsOneMinuteAndRefills) {
  ClientLimiter l(
      {.requests_per_minute = 2, .tokens_per_minute = {}, .tokens_per_day = {}, .usd_per_day = {}, .usd_per_month = {}},
      kT0);
  EXPECT_FALSE(l.admit(kT0, kNoon));
  EXPECT_FALSE(l.admit(kT0, kNoon));
  const auto d = l.admit(kT0, kNoon);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 429u);
  EXPECT_EQ(d->retry_after, 30s);
  EXPECT_EQ(d->code, "rate_limit_exceeded");
  EXPECT_FALSE(l.admit(kT0 + 31s, kNoon));
  EXPECT_TRUE(l.admit(kT0 + 31s, kNoon));
}

// Tokens are charged once an answer ended: the answer that overdraws the bucket is not cut, the
// next request waits until the bucket is above empty again.
TEST(ClientLimiter, TokensAMinuteAreChargedAfterTheAnswer) {
  ClientLimiter l({.requests_per_minute = {},
                   .tokens_per_minute = 600,
                   .tokens_per_day = {},
                   .usd_per_day = {},
                   .usd_per_month = {}},
                  kT0);
  EXPECT_FALSE(l.admit(kT0, kNoon));
  l.charge(500, kT0, kNoon);
  EXPECT_FALSE(l.admit(kT0, kNoon)) << "100 tokens left: admitted";
  l.charge(700, kT0, kNoon);  // 600 over
  const auto d = l.admit(kT0, kNoon);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 429u);
  EXPECT_NE(d->reason.find("600 tokens a minute"), std::string::npos) << d->reason;
  EXPECT_EQ(d->retry_after, 61s) << "600 tokens owed at 10 a second, then one more";
  EXPECT_TRUE(l.admit(kT0 + 60s, kNoon)) << "back to exactly empty: still refused";
  EXPECT_FALSE(l.admit(kT0 + 61s, kNoon));
}

TEST(ClientLimiter, TheDailyBudgetResetsAtMidnightUtc) {
  ClientLimiter l({.requests_per_minute = {},
                   .tokens_per_minute = {},
                   .tokens_per_day = 1000,
                   .usd_per_day = {},
                   .usd_per_month = {}},
                  kT0);
  EXPECT_EQ(l.budget_remaining(kNoon), 1000);
  l.charge(999, kT0, kNoon);
  EXPECT_EQ(l.budget_remaining(kNoon), 1);
  EXPECT_FALSE(l.admit(kT0, kNoon));
  l.charge(50, kT0, kNoon);
  EXPECT_EQ(l.budget_remaining(kNoon), 0);
  const auto d = l.admit(kT0 + 1h, kNoon + 1h);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 429u);
  EXPECT_EQ(d->code, "insufficient_quota");
  EXPECT_NE(d->reason.find("resets at 2026-12-01T00:00:00Z"), std::string::npos) << d->reason;
  EXPECT_EQ(d->retry_after, 11h);
  const SystemTime tomorrow = *parse_iso8601("2026-12-01T00:00:00Z");
  EXPECT_EQ(l.budget_remaining(tomorrow), 1000);
  EXPECT_FALSE(l.admit(kT0 + 12h, tomorrow));
}

// A refusal by one limit takes nothing from the others.
TEST(ClientLimiter, ARefusedRequestSpendsNoRequestToken) {
  ClientLimiter l(
      {.requests_per_minute = 1, .tokens_per_minute = 60, .tokens_per_day = {}, .usd_per_day = {}, .usd_per_month = {}},
      kT0);
  l.charge(61, kT0, kNoon);
  EXPECT_TRUE(l.admit(kT0, kNoon));  // tokens
  EXPECT_FALSE(l.admit(kT0 + 2s, kNoon)) << "the request bucket was not drawn by the refusal";
}

TEST(ClientLimiter, AReloadKeepsWhatWasSpentUnlessTheLimitChanged) {
  ClientLimiter r(
      {.requests_per_minute = 1, .tokens_per_minute = {}, .tokens_per_day = {}, .usd_per_day = {}, .usd_per_month = {}},
      kT0);
  EXPECT_FALSE(r.admit(kT0, kNoon));
  r.reconfigure(
      {.requests_per_minute = 1, .tokens_per_minute = {}, .tokens_per_day = {}, .usd_per_day = {}, .usd_per_month = {}},
      kT0);
  EXPECT_TRUE(r.admit(kT0, kNoon)) << "the same request limit: the same, drained bucket";
  ClientLimiter l({.requests_per_minute = 1,
                   .tokens_per_minute = {},
                   .tokens_per_day = 100,
                   .usd_per_day = {},
                   .usd_per_month = {}},
                  kT0);
  EXPECT_FALSE(l.admit(kT0, kNoon));
  l.charge(100, kT0, kNoon);
  l.reconfigure({.requests_per_minute = 1,
                 .tokens_per_minute = {},
                 .tokens_per_day = 100,
                 .usd_per_day = {},
                 .usd_per_month = {}},
                kT0);
  EXPECT_TRUE(l.admit(kT0, kNoon)) << "same limits: same spending";
  l.reconfigure({.requests_per_minute = 5,
                 .tokens_per_minute = {},
                 .tokens_per_day = 150,
                 .usd_per_day = {},
                 .usd_per_month = {}},
                kT0);
  EXPECT_EQ(l.budget_remaining(kNoon), 50) << "a raised budget counts what today already spent";
  EXPECT_FALSE(l.admit(kT0, kNoon)) << "a changed minute limit starts full";
}

TEST(UtcDay, MidnightIsTheNextDay) {
  EXPECT_EQ(format_iso8601(next_utc_midnight(*parse_iso8601("2026-11-30T23:59:59Z"))), "2026-12-01T00:00:00Z");
  EXPECT_EQ(format_iso8601(next_utc_midnight(*parse_iso8601("2026-12-01T00:00:00Z"))), "2026-12-02T00:00:00Z");
  EXPECT_EQ(utc_day(*parse_iso8601("1970-01-02T00:00:00Z")), 1);
}

}  // namespace
}  // namespace signgate::auth

namespace signgate::auth {
namespace {

LimitSettings usd_budgets(std::optional<double> day, std::optional<double> month,
                          std::optional<std::int64_t> tokens = {}) {
  LimitSettings s;
  s.tokens_per_day = tokens;
  if (day) s.usd_per_day = to_nano_usd(*day);
  if (month) s.usd_per_month = to_nano_usd(*month);
  return s;
}

// USD budgets (SPEC §8): admitted while spent < budget, so the call that crosses it is served
// and the next refused with a 429 naming the budget and its reset (midnight, or the first of
// the next month, UTC).
TEST(ClientLimiter, UsdBudgetsAdmitWhileSpentIsBelowThem) {
  ClientLimiter l(usd_budgets(1.0, 10.0), kT0);
  EXPECT_FALSE(l.admit(kT0, kNoon));
  l.charge(100, to_nano_usd(0.6), kT0, kNoon);
  EXPECT_FALSE(l.admit(kT0, kNoon)) << "$0.60 of $1.00";
  l.charge(100, to_nano_usd(0.5), kT0, kNoon);  // $1.10: over, the call was served
  const auto d = l.admit(kT0, kNoon);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 429u);
  EXPECT_EQ(d->code, "insufficient_quota");
  EXPECT_NE(d->reason.find("daily budget of $1.00"), std::string::npos) << d->reason;
  EXPECT_NE(d->reason.find("budget.usd_per_day"), std::string::npos) << d->reason;
  EXPECT_NE(d->reason.find("2026-12-01T00:00:00Z"), std::string::npos) << d->reason;
  EXPECT_EQ(d->retry_after, 12h);
  EXPECT_EQ(*l.budget_left(kNoon).usd_today, 0);
  EXPECT_EQ(*l.budget_left(kNoon).usd_this_month, to_nano_usd(8.9));
  // The next day the daily budget is back; the month's spending stays until the month ends.
  const SystemTime evening = kNoon + 11h;
  EXPECT_TRUE(l.admit(kT0, evening));
  const SystemTime tomorrow = kNoon + 24h;  // 2026-12-01: a new day and a new month
  EXPECT_FALSE(l.admit(kT0, tomorrow));
  EXPECT_EQ(*l.budget_left(tomorrow).usd_today, to_nano_usd(1.0));
  EXPECT_EQ(*l.budget_left(tomorrow).usd_this_month, to_nano_usd(10.0));
  l.charge(0, to_nano_usd(0.25), kT0, tomorrow + 24h);
  EXPECT_EQ(*l.budget_left(tomorrow + 48h).usd_today, to_nano_usd(1.0));
  EXPECT_EQ(*l.budget_left(tomorrow + 48h).usd_this_month, to_nano_usd(9.75));
}

TEST(ClientLimiter, TheMonthlyBudgetResetsOnTheFirstUtc) {
  ClientLimiter l(usd_budgets(std::nullopt, 5.0), kT0);
  l.charge(0, to_nano_usd(5.0), kT0, kNoon);
  const auto d = l.admit(kT0, kNoon);
  ASSERT_TRUE(d);
  EXPECT_NE(d->reason.find("monthly budget of $5.00"), std::string::npos) << d->reason;
  EXPECT_NE(d->reason.find("budget.usd_per_month"), std::string::npos) << d->reason;
  EXPECT_NE(d->reason.find("resets at 2026-12-01T00:00:00Z"), std::string::npos) << d->reason;
  EXPECT_TRUE(l.admit(kT0, *parse_iso8601("2026-11-30T23:59:59Z")));
  EXPECT_FALSE(l.admit(kT0, *parse_iso8601("2026-12-01T00:00:00Z")));
}

// The 429 names the first spent budget in SPEC's order: tokens_per_day, usd_per_day, usd_per_month.
TEST(ClientLimiter, TheFirstSpentBudgetIsNamed) {
  ClientLimiter l(usd_budgets(1.0, 1.0, 100), kT0);
  l.charge(100, to_nano_usd(2.0), kT0, kNoon);
  EXPECT_NE(l.admit(kT0, kNoon)->reason.find("tokens_per_day"), std::string::npos);
  ClientLimiter m(usd_budgets(1.0, 1.0, 100), kT0);
  m.charge(1, to_nano_usd(2.0), kT0, kNoon);
  EXPECT_NE(m.admit(kT0, kNoon)->reason.find("usd_per_day"), std::string::npos);
}

// The fleet's counts only ever raise what this replica believes was spent.
TEST(ClientLimiter, SyncedSpendingOnlyGrows) {
  ClientLimiter l(usd_budgets(10.0, 100.0), kT0);
  l.sync_spent({.tokens_today = {}, .usd_today = to_nano_usd(4.0), .usd_this_month = to_nano_usd(40.0)}, kNoon);
  l.sync_spent({.tokens_today = {}, .usd_today = to_nano_usd(3.0), .usd_this_month = to_nano_usd(30.0)}, kNoon);
  EXPECT_EQ(*l.budget_left(kNoon).usd_today, to_nano_usd(6.0));
  EXPECT_EQ(*l.budget_left(kNoon).usd_this_month, to_nano_usd(60.0));
}

// Counts from a hostile upstream stop at the largest amount instead of wrapping to "nothing spent".
TEST(ClientLimiter, SpendingSaturates) {
  ClientLimiter l(usd_budgets(50.0, std::nullopt), kT0);
  for (int i = 0; i < 10'000; ++i) l.charge(1ull << 62, to_nano_usd(1e300), kT0, kNoon);
  EXPECT_EQ(*l.budget_left(kNoon).usd_today, 0);
  EXPECT_TRUE(l.admit(kT0, kNoon));
  EXPECT_EQ(to_nano_usd(1e300), 1ll << 50);
}

TEST(Money, NanoDollarsAndTheirFormat) {
  EXPECT_EQ(to_nano_usd(0.00000035), 350);
  EXPECT_EQ(to_nano_usd(-1), 0);
  EXPECT_EQ(format_usd(to_nano_usd(50)), "$50.00");
  EXPECT_EQ(format_usd(to_nano_usd(0.5)), "$0.50");
  EXPECT_EQ(format_usd(to_nano_usd(0.000042)), "$0.000042");
  EXPECT_EQ(utc_month_name(kNoon), "2026-11");
  EXPECT_EQ(utc_date(kNoon), "2026-11-30");
  EXPECT_EQ(format_iso8601(next_utc_month(*parse_iso8601("2026-12-31T23:00:00Z"))), "2027-01-01T00:00:00Z");
}

}  // namespace
}  // namespace signgate::auth
