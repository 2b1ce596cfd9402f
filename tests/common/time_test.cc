#include "common/time.h"

#include <gtest/gtest.h>

namespace signgate {
namespace {

// The AWS test suite's instant, in both wire forms.
TEST(Time, FormatsAwsSuiteInstant) {
  const auto t = parse_iso8601("2015-08-30T12:36:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_amz_date(*t), "20150830T123600Z");
  EXPECT_EQ(format_iso8601(*t), "2015-08-30T12:36:00Z");
  EXPECT_EQ(parse_iso8601("20150830T123600Z"), t);
}

// STS's Expiration and users' --time may carry fractions or offsets.
TEST(Time, AcceptsFractionsAndOffsets) {
  EXPECT_EQ(parse_iso8601("2015-08-30T12:36:00.123Z"), parse_iso8601("2015-08-30T12:36:00Z"));
  EXPECT_EQ(parse_iso8601("2015-08-30T14:36:00+02:00"), parse_iso8601("2015-08-30T12:36:00Z"));
  EXPECT_EQ(parse_iso8601("2015-08-30T11:36:00-01:00"), parse_iso8601("2015-08-30T12:36:00Z"));
  EXPECT_EQ(format_iso8601(*parse_iso8601("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
}

// Anything that is not a real instant is refused.
TEST(Time, RejectsBadTimes) {
  for (const char* bad :
       {"", "yesterday", "2015-08-30", "2015-08-30T12:36:00", "2015-13-01T00:00:00Z", "2015-02-30T00:00:00Z",
        "2015-08-30T24:00:00Z", "2015-08-30T12:60:00Z", "2015-08-30T12:36:00ZZ", "2015-08-30 12:36:00Z",
        "2015-08-30T12:36:00.Z", "20150830T1236Z", "2023-02-29T00:00:00Z"}) {
    EXPECT_FALSE(parse_iso8601(bad)) << bad;
  }
}

}  // namespace
}  // namespace signgate

// Fuzzing found that a far-future date (an STS Expiration or a client's expires_at) overflowed
// the nanosecond clock; such dates are refused instead.
TEST(Iso8601, DatesPastTheClocksRangeAreRefused) {
  EXPECT_FALSE(signgate::parse_iso8601("7517-11-26T06:37:20Z").has_value());
  EXPECT_FALSE(signgate::parse_iso8601("4054-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(signgate::parse_iso8601("1066-10-14T09:00:00Z").has_value());
  EXPECT_TRUE(signgate::parse_iso8601("2261-12-31T23:59:59Z").has_value());
}
