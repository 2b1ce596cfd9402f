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
