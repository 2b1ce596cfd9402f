#include "gateway/usage_report.h"

#include <gtest/gtest.h>

namespace signgate::gateway {
namespace {

const SystemTime kNow = *parse_iso8601("2026-12-08T15:30:00Z");

std::int64_t day(const char* date) { return *parse_utc_date(date); }

// Dates are strict YYYY-MM-DD of days that exist, and print back the same.
TEST(UsageReport, UtcDates) {
  EXPECT_EQ(parse_utc_date("1970-01-01"), 0);
  EXPECT_EQ(parse_utc_date("2026-12-08"), auth::utc_day(kNow));
  EXPECT_EQ(format_utc_date(day("2024-02-29")), "2024-02-29");
  for (const char* bad : {"2026-02-30", "2026-13-01", "2026-1-01", "2026/12/08", "2026-12-08x", "", "20261208",
                          "2026-12-0a", "+026-12-08"}) {
    EXPECT_FALSE(parse_utc_date(bad)) << bad;
  }
}

// By default: this month so far; days inclusive; at most 400 of them; since after until refused.
TEST(UsageReport, Period) {
  auto p = usage_period(std::nullopt, std::nullopt, kNow);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->since, day("2026-12-01"));
  EXPECT_EQ(p->until, day("2026-12-08"));
  EXPECT_TRUE(p->contains(day("2026-12-08")));
  EXPECT_FALSE(p->contains(day("2026-12-09")));
  p = usage_period(std::string("2025-11-04"), std::string("2026-12-08"), kNow);
  ASSERT_TRUE(p);  // 400 days
  EXPECT_FALSE(usage_period(std::string("2025-11-03"), std::nullopt, kNow));
  EXPECT_FALSE(usage_period(std::string("2026-12-09"), std::nullopt, kNow));
  const auto bad = usage_period(std::nullopt, std::string("2026-12-32"), kNow);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "--until '2026-12-32' is not a date (YYYY-MM-DD)");
  EXPECT_EQ(usage_period(std::string("2026-12-05"), std::string("2026-12-04"), kNow).message(),
            "--since 2026-12-05 is after --until 2026-12-04");
  // --until alone: its own month up to it.
  p = usage_period(std::nullopt, std::string("2026-11-20"), kNow);
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->since, day("2026-11-01"));
  EXPECT_EQ(p->until, day("2026-11-20"));
}

constexpr const char* kAnswered =
    R"({"ts":"2026-12-08T23:59:59.500Z","request_id":"r1","client":"acme","model":"claude","status":200,)"
    R"("upstream_status":200,"input_tokens":10,"output_tokens":20,"cache_read_tokens":3,"cache_write_tokens":4,)"
    R"("cost_usd":0.000123456,"target_model":"us.anthropic.claude-3-haiku-20240307-v1:0"})";

// An answered call counts under the model it was sent as, on its ts's UTC day.
TEST(UsageReport, AnsweredAuditLine) {
  AuditUsage u;
  ASSERT_EQ(read_audit_line(kAnswered, u), AuditLineKind::kAnswered);
  EXPECT_EQ(u.day, day("2026-12-08"));
  EXPECT_EQ(u.client, "acme");
  EXPECT_EQ(u.model, "us.anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(u.counts.requests, 1);
  EXPECT_EQ(u.counts.input, 10);
  EXPECT_EQ(u.counts.output, 20);
  EXPECT_EQ(u.counts.cache_read, 3);
  EXPECT_EQ(u.counts.cache_write, 4);
  EXPECT_EQ(u.counts.nano_usd, 123456);
  EXPECT_EQ(u.counts.unpriced, 0);
}

// Null tokens count 0 and a null (or absent) cost is unpriced; target_model null means model.
TEST(UsageReport, UnpricedAuditLine) {
  AuditUsage u;
  ASSERT_EQ(read_audit_line(R"({"ts":"2026-12-01T00:00:00Z","client":"b","model":"m","status":200,)"
                            R"("upstream_status":204,"input_tokens":null,"cost_usd":null,"target_model":null})",
                            u),
            AuditLineKind::kAnswered);
  EXPECT_EQ(u.model, "m");
  EXPECT_EQ(u.counts.input, 0);
  EXPECT_EQ(u.counts.unpriced, 1);
  EXPECT_FALSE(u.counts.cost());
}

// Refusals, Bedrock's errors and signgate's own are not answered calls; lines that are not
// audit records are malformed.
TEST(UsageReport, OtherAuditLines) {
  AuditUsage u;
  for (const char* line :
       {R"({"ts":"2026-12-01T00:00:00Z","client":null,"model":null,"status":401,"upstream_status":null})",
        R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","status":429,"upstream_status":429})"}) {
    EXPECT_EQ(read_audit_line(line, u), AuditLineKind::kNotAnswered) << line;
  }
  // Bedrock answered, and billed, what the caller did not receive whole (it left: 499; signgate
  // failed to answer: 502): counted, as the gateway charged it.
  for (
      const char* line :
      {R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","status":499,"upstream_status":200,"cost_usd":0.5})",
       R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","status":502,"upstream_status":200})",
       // an embeddings request whose last call Bedrock refused: the texts before it were billed
       R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","status":429,"upstream_status":429,"cost_usd":4e-8})"}) {
    EXPECT_EQ(read_audit_line(line, u), AuditLineKind::kAnswered) << line;
  }
  for (
      const char* line :
      {"", "not json", "[1,2]", R"({"ts":"2026-12-01T00:00:00Z")",
       R"({"client":"a","model":"m","status":200,"upstream_status":200})",
       R"({"ts":"yesterday","client":"a","model":"m","status":200,"upstream_status":200})",
       R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","upstream_status":200})",
       R"({"ts":"2026-12-01T00:00:00Z","model":"m","status":200,"upstream_status":200})",
       R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","status":200,"upstream_status":200,"input_tokens":"9"})",
       R"({"ts":"2026-12-01T00:00:00Z","client":"a","model":"m","status":200,"upstream_status":200,"cost_usd":"1"})"}) {
    EXPECT_EQ(read_audit_line(line, u), AuditLineKind::kMalformed) << line;
  }
}

// The fleet's hash: the model is what comes before the last '|'; fields it cannot read are counted.
TEST(UsageReport, RedisHash) {
  EXPECT_EQ(usage_key("acme", day("2026-12-08")), "signgate:{acme}:usage:2026-12-08");
  UsageRows rows;
  const std::size_t unread = add_usage_hash(rows, "acme",
                                            {{"m1|requests", "3"},
                                             {"m1|input", "30"},
                                             {"m1|nano_usd", "1500"},
                                             {"m1|unpriced", "1"},
                                             {"(other)|requests", "2"},
                                             {"(other)|unpriced", "2"},
                                             {"m1|bogus", "1"},
                                             {"nobar", "1"},
                                             {"m1|output", "x"}});
  EXPECT_EQ(unread, 3u);
  ASSERT_EQ(rows.size(), 2u);
  const UsageCounts& m1 = rows.at({"acme", "m1"});
  EXPECT_EQ(m1.requests, 3);
  EXPECT_EQ(m1.input, 30);
  EXPECT_EQ(m1.cost(), 1500);
  EXPECT_FALSE(rows.at({"acme", "(other)"}).cost());
  add_usage_hash(rows, "acme", {{"m1|requests", "1"}, {"m1|nano_usd", "500"}});  // another day
  EXPECT_EQ(rows.at({"acme", "m1"}).requests, 4);
  EXPECT_EQ(rows.at({"acme", "m1"}).nano_usd, 2000);
}

TEST(UsageReport, Dollars) {
  EXPECT_EQ(format_dollars(0), "0.00");
  EXPECT_EQ(format_dollars(12'500'000'000), "12.50");
  EXPECT_EQ(format_dollars(90'000), "0.00009");
  EXPECT_EQ(format_dollars(1), "0.000000001");
  EXPECT_EQ(format_dollars(1'234'567'891'000), "1234.567891");
}

UsageRows sample_rows() {
  UsageRows rows;
  rows[{"acme", "anthropic.claude-3-haiku-20240307-v1:0"}] = {3, 300, 600, 10, 20, 1'250'000, 0};
  rows[{"acme", "meta.llama3-8b-instruct-v1:0"}] = {2, 40, 50, 0, 0, 0, 2};
  rows[{"beta", "amazon.nova-lite-v1:0"}] = {5, 1000, 2000, 0, 0, 12'000'000, 1};
  return rows;
}

// Aligned columns, a total per client and one overall; unknown and partly unpriced costs said so.
TEST(UsageReport, Table) {
  EXPECT_EQ(format_usage_table(sample_rows()),
            "client  model                                   requests  input  output  cache read  cache write"
            "               cost USD\n"
            "acme    anthropic.claude-3-haiku-20240307-v1:0         3    300     600          10           20"
            "                0.00125\n"
            "acme    meta.llama3-8b-instruct-v1:0                   2     40      50           0            0"
            "                unknown\n"
            "acme    total                                          5    340     650          10           20"
            "  0.00125 (+2 unpriced)\n"
            "beta    amazon.nova-lite-v1:0                          5   1000    2000           0            0"
            "    0.012 (+1 unpriced)\n"
            "beta    total                                          5   1000    2000           0            0"
            "    0.012 (+1 unpriced)\n"
            "total                                                 10   1340    2650          10           20"
            "  0.01325 (+3 unpriced)\n");
  EXPECT_EQ(format_usage_table({}),
            "client  model  requests  input  output  cache read  cache write  cost USD\n"
            "total                 0      0       0           0            0      0.00\n");
}

TEST(UsageReport, Json) {
  const UsagePeriod period{day("2026-12-01"), day("2026-12-08")};
  EXPECT_EQ(
      format_usage_json(sample_rows(), period, "redis"),
      R"({"since":"2026-12-01","until":"2026-12-08","source":"redis","rows":[)"
      R"({"client":"acme","model":"anthropic.claude-3-haiku-20240307-v1:0","requests":3,"input_tokens":300,)"
      R"("output_tokens":600,"cache_read_tokens":10,"cache_write_tokens":20,"cost_usd":0.00125,"unpriced_requests":0},)"
      R"({"client":"acme","model":"meta.llama3-8b-instruct-v1:0","requests":2,"input_tokens":40,"output_tokens":50,)"
      R"("cache_read_tokens":0,"cache_write_tokens":0,"cost_usd":null,"unpriced_requests":2},)"
      R"({"client":"beta","model":"amazon.nova-lite-v1:0","requests":5,"input_tokens":1000,"output_tokens":2000,)"
      R"("cache_read_tokens":0,"cache_write_tokens":0,"cost_usd":0.012,"unpriced_requests":1}],)"
      R"("totals":{"requests":10,"input_tokens":1340,"output_tokens":2650,"cache_read_tokens":10,)"
      R"("cache_write_tokens":20,"cost_usd":0.01325,"unpriced_requests":3}})"
      "\n");
}

}  // namespace
}  // namespace signgate::gateway
